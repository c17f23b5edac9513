import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client.ts';

export type Db = PrismaClient;

export function createDb(url: string, poolSize = 10): Db {
  // A connection that cannot be made in 5 s fails the query instead of waiting forever.
  const adapter = new PrismaPg({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5000 });
  return new PrismaClient({ adapter });
}

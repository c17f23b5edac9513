import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/prisma/client.ts';
import { createSql, type Sql } from './pg.ts';

export type Db = PrismaClient;

const statementCounts = new WeakMap<Db, { statements: number }>();
const sqlClients = new WeakMap<Db, Sql>();

export function createDb(url: string, poolSize = 10): Db {
  // A connection that cannot be made in 5 s fails the query instead of waiting forever.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 5000 });
  const counter = { statements: 0 };
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      counter.statements += 1;
      return query(...args);
    };
  });
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  statementCounts.set(db, counter);
  sqlClients.set(db, createSql(pool));
  return db;
}

/** Plain `pg` on the same pool as the Prisma client `db` (see pg.ts). */
export function sqlOf(db: Db): Sql {
  const sql = sqlClients.get(db);
  if (!sql) throw new Error('this Prisma client was not made by createDb');
  return sql;
}

/** SQL statements this client has sent (transaction control included), for the metrics. */
export function statementsSent(db: Db): number {
  return statementCounts.get(db)?.statements ?? 0;
}

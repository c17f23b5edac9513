import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

const SERVER = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
export const ADMIN_URL = `${SERVER}/postgres`;

export function serverUrl(database: string): string {
  return `${SERVER}/${database}`;
}

/** A fresh, migrated database for one test file, dropped at the end of the run. */
export async function createTestDatabase(): Promise<string> {
  const name = `sgw_t_${inject('testRun')}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(inject('templateDatabase'))}`);
  } finally {
    await client.end();
  }
  return serverUrl(name);
}

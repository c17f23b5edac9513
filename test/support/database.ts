import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/** A database of the run's PostgreSQL server (see global-setup.ts). */
export function serverUrl(database: string): string {
  return `${inject('postgresServer')}/${database}`;
}

export function adminUrl(): string {
  return serverUrl('postgres');
}

/** A fresh, migrated database for one test file, dropped at the end of the run. */
export async function createTestDatabase(): Promise<string> {
  const name = `sgw_t_${inject('testRun')}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${pg.escapeIdentifier(inject('templateDatabase'))}`);
  } finally {
    await client.end();
  }
  return serverUrl(name);
}

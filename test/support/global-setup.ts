import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { prepareDatabase } from '../../src/db/bootstrap.ts';
import { maintainHistoryOn } from '../../src/deliveries/retention.ts';
import { suitePostgres, suiteRedis } from './services.ts';

/**
 * Finds (or starts) the run's PostgreSQL and Redis, and migrates one template database per
 * migration set; every test file then clones it into a database of its own (see database.ts),
 * which takes milliseconds instead of a migration run.
 */
export default async function setup(project: TestProject) {
  const [postgres, redis] = await Promise.all([suitePostgres(), suiteRedis()]);
  const migrations = new URL('../../prisma/migrations/', import.meta.url);
  const hash = createHash('sha256');
  for (const dir of readdirSync(migrations).sort()) {
    if (dir.endsWith('.toml')) continue;
    hash.update(dir).update(readFileSync(new URL(`${dir}/migration.sql`, migrations)));
  }
  const template = `sgw_template_${hash.digest('hex').slice(0, 12)}`;
  await prepareDatabase(`${postgres.url}/${template}`);
  // The days' partitions, as a gateway makes them when it starts (deliveries/retention.ts).
  const templateClient = new pg.Client({ connectionString: `${postgres.url}/${template}` });
  await templateClient.connect();
  await maintainHistoryOn(templateClient, { eventRetentionDays: 30, messageRetentionDays: 365 });
  await templateClient.end();
  const run = randomBytes(4).toString('hex');
  project.provide('postgresServer', postgres.url);
  project.provide('redisUrl', redis.url);
  project.provide('templateDatabase', template);
  project.provide('testRun', run);

  return async () => {
    const client = new pg.Client({ connectionString: `${postgres.url}/postgres` });
    await client.connect();
    try {
      const { rows } = await client.query<{ datname: string }>(
        `SELECT datname FROM pg_database WHERE datname LIKE $1`,
        [`sgw_t_${run}_%`],
      );
      for (const { datname } of rows) {
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
      }
    } finally {
      await client.end();
    }
    await Promise.all([redis.stop(), postgres.stop()]);
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** PostgreSQL server URL without a database: `${postgresServer}/${name}`. */
    postgresServer: string;
    redisUrl: string;
    templateDatabase: string;
    testRun: string;
  }
}

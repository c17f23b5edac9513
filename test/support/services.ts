import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import { startEmbeddedPostgres } from '../../src/db/embedded/server.ts';
import { TestRedis } from './redis-server.ts';

/** A server the suite runs on, and how to stop it when the suite started it. */
export type SuiteService = { url: string; stop(): Promise<void> };

const LOCAL_POSTGRES = 'postgresql://postgres@127.0.0.1:5432';
const LOCAL_REDIS = 'redis://127.0.0.1:6379';

/**
 * The PostgreSQL server of the run (its URL without a database): TEST_POSTGRES_URL, else the
 * machine's own on 5432 when it answers, else one embedded PostgreSQL for the whole run.
 */
export async function suitePostgres(): Promise<SuiteService> {
  const configured = process.env.TEST_POSTGRES_URL?.replace(/\/+$/, '');
  const candidate = configured ?? LOCAL_POSTGRES;
  const problem = await postgresProblem(candidate);
  if (!problem) return { url: candidate, stop: async () => undefined };
  if (configured) throw new Error(`TEST_POSTGRES_URL ${candidate} does not answer: ${problem}`);

  const dataDir = await mkdtemp(path.join(tmpdir(), 'sgw-test-postgres-'));
  const server = await startEmbeddedPostgres({
    dataDir,
    logger: pino({ level: 'warn' }),
    // Test data need not survive a power cut.
    settings: { max_connections: '300', fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
  });
  process.stderr.write(`No PostgreSQL answers at 127.0.0.1:5432 (${problem}): the suite runs on an embedded PostgreSQL ${server.version}.\n`);
  return {
    url: server.url('').replace(/\/+$/, ''),
    async stop() {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function postgresProblem(serverUrl: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: `${serverUrl}/postgres`, connectionTimeoutMillis: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The Redis of the run: TEST_REDIS_URL, else the machine's own on 6379 when it answers, else a
 * redis-server of the run's own from the PATH.
 */
export async function suiteRedis(): Promise<SuiteService> {
  const configured = process.env.TEST_REDIS_URL;
  const candidate = configured ?? LOCAL_REDIS;
  const problem = await redisProblem(candidate);
  if (!problem) return { url: candidate, stop: async () => undefined };
  if (configured) throw new Error(`TEST_REDIS_URL ${candidate} does not answer: ${problem}`);
  let redis: TestRedis;
  try {
    redis = await TestRedis.start();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new Error(
      `npm test needs Redis: nothing answers at ${LOCAL_REDIS} (${problem}) and there is no redis-server on the PATH. ` +
        'Install it (Debian: apt-get install redis-server) or set TEST_REDIS_URL.',
    );
  }
  process.stderr.write(`No Redis answers at ${LOCAL_REDIS} (${problem}): the suite runs its own redis-server on ${redis.url}.\n`);
  return { url: redis.url, stop: () => redis.kill() };
}

async function redisProblem(url: string): Promise<string | undefined> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message;
  } finally {
    client.disconnect();
  }
}

import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../logger.ts';
import { childFailure, errorPart } from '../shared/child-process.ts';
import { StartFailure } from '../shared/start-failure.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MIGRATIONS = fileURLToPath(new URL('../../prisma/migrations/', import.meta.url));
const PRELOAD = fileURLToPath(new URL('./prisma-cli-preload.cjs', import.meta.url));

/** A server that does not answer in this long is reported unreachable rather than waited for. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Creates the database named in `url` when the server does not have it yet. It connects to
 * that database first, so a user who may not open the `postgres` database (a hosted server)
 * is only asked to when there is something to create.
 */
export async function ensureDatabase(url: string, logger?: Logger): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!name) throw new Error('DATABASE_URL names no database');
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  try {
    await probe.connect();
    return false;
  } catch (error) {
    // 3D000: no such database.
    if ((error as { code?: string }).code !== '3D000') throw error;
  } finally {
    await probe.end().catch(() => undefined);
  }
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  await client.connect();
  try {
    try {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    } catch (error) {
      // Another process created it first.
      if ((error as { code?: string }).code !== '42P04') throw error;
      return false;
    }
    logger?.info({ database: name }, 'created database');
    return true;
  } finally {
    await client.end();
  }
}

export async function pendingMigrations(url: string): Promise<string[]> {
  const all = (await readdir(MIGRATIONS, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const table = await client.query(`SELECT to_regclass('public._prisma_migrations') AS t`);
    if (!table.rows[0]?.t) return all;
    const applied = await client.query<{ migration_name: string }>(
      'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
    );
    const done = new Set(applied.rows.map((row) => row.migration_name));
    return all.filter((name) => !done.has(name));
  } finally {
    await client.end();
  }
}

/** Applies pending migrations with `prisma migrate deploy` (skipped when none are pending). */
export async function migrate(url: string, logger?: Logger): Promise<void> {
  const pending = await pendingMigrations(url);
  if (pending.length === 0) return;
  logger?.info({ pending }, 'applying migrations');
  const cli = createRequire(import.meta.url).resolve('prisma/build/index.js');
  const output: string[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ['--require', PRELOAD, cli, 'migrate', 'deploy'], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: url, CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.on('error', (error) => reject(childFailure('prisma migrate deploy', process.execPath, error)));
    child.on('exit', resolve);
  });
  if (code !== 0) throw new StartFailure(`prisma migrate deploy failed (exit ${code}): ${errorPart(output.join(''))}`);
}

export async function prepareDatabase(url: string, logger?: Logger): Promise<void> {
  await ensureDatabase(url, logger);
  await migrate(url, logger);
}

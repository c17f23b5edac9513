import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ensureStateRoot, postgresUserCanEnter, STATE_ROOT, unreachable, type RunAs } from './reach.ts';

/** In a cluster home: the cluster, its log and its credentials. */
export const CLUSTER = 'postgres';
export const CREDENTIALS = 'postgres-credentials.json';
export const LOG = 'postgres.log';

/**
 * The directory of a DATA_DIR's cluster for a DATA_DIR that the user PostgreSQL runs as cannot
 * reach: in STATE_ROOT, named after the project, and apart from other DATA_DIRs' by a hash.
 */
function stateHomeOf(dataDir: string): string {
  const base = path.basename(dataDir).replace(/^\.+/, '');
  const project = base === '' || base === 'data' ? path.basename(path.dirname(dataDir)) : base;
  const name = project.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 40) || 'data';
  return path.join(STATE_ROOT, `${name}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 8)}`);
}

const hasCluster = (home: string) => existsSync(path.join(home, CLUSTER, 'PG_VERSION'));

/**
 * Where the cluster of `dataDir` lives, made ready for PostgreSQL's user: DATA_DIR itself, or
 * as root, when that user cannot enter it, a directory of its own in STATE_ROOT. A cluster
 * already made in either place stays where it is.
 */
export async function clusterHomeFor(dataDir: string, runAs: RunAs): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  if (runAs.uid === undefined) return dataDir;
  const stateHome = stateHomeOf(dataDir);
  if (!hasCluster(dataDir) && (hasCluster(stateHome) || !(await postgresUserCanEnter(runAs, path.dirname(dataDir))))) {
    await ensureStateRoot(unreachable(dataDir));
    await mkdir(stateHome, { recursive: true });
    await chmod(stateHome, 0o711);
    return stateHome;
  }
  // Its parents let PostgreSQL's user through; DATA_DIR itself must too.
  const { mode } = await stat(dataDir);
  if ((mode & 0o001) === 0) await chmod(dataDir, mode | 0o711);
  return dataDir;
}

/** The home of the cluster already made for `dataDir` (to read its credentials). */
export function existingClusterHome(dataDir: string): string {
  const stateHome = stateHomeOf(dataDir);
  return !existsSync(path.join(dataDir, CREDENTIALS)) && existsSync(path.join(stateHome, CREDENTIALS)) ? stateHome : dataDir;
}

import { execFile } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import { childFailure, runChild } from '../../shared/child-process.ts';
import { StartFailure } from '../../shared/start-failure.ts';

const run = promisify(execFile);

/** The user PostgreSQL runs as; empty when it runs as this process's user (anyone but root). */
export type RunAs = { uid?: number; gid?: number };

/** PostgreSQL refuses root, so as root it runs as this system user (created when missing). */
const POSTGRES_USER = 'postgres';

/**
 * Where, as root, what that user must reach is kept when it cannot reach the project: a copy
 * of the PostgreSQL binaries per version, and the clusters of DATA_DIRs it cannot enter.
 */
export const STATE_ROOT = '/var/lib/sms-gateway';

export async function postgresUser(): Promise<RunAs> {
  if (userInfo().uid !== 0) return {};
  const found = await idsOf(POSTGRES_USER);
  if (found) return found;
  const what = `creating the system user "${POSTGRES_USER}" that PostgreSQL runs as (it refuses root)`;
  try {
    await run('groupadd', ['--system', POSTGRES_USER]);
  } catch (error) {
    // 9: the group exists already.
    if ((error as { code?: unknown }).code !== 9) throw childFailure(what, 'groupadd', error);
  }
  await runChild(what, 'useradd', ['--system', '--gid', POSTGRES_USER, '--no-create-home', '--shell', '/usr/sbin/nologin', POSTGRES_USER]);
  const created = await idsOf(POSTGRES_USER);
  if (!created) throw new StartFailure(`${what} failed: "id ${POSTGRES_USER}" does not find it`);
  return created;
}

async function idsOf(user: string): Promise<RunAs | undefined> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', user]), run('id', ['-g', user])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  } catch {
    return undefined;
  }
}

/*
 * Whether PostgreSQL's user can reach something is asked of the system by trying as that user,
 * which also covers ACLs and mounts that a reading of modes would miss.
 */

/** Whether PostgreSQL's user can run `binary`, and so reach it and its libraries. */
export async function postgresUserCanRun(runAs: RunAs, binary: string): Promise<boolean> {
  try {
    await run(binary, ['--version'], runAs);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EACCES') return false;
    throw childFailure('running the embedded PostgreSQL', binary, error);
  }
}

/** Whether PostgreSQL's user can enter `dir` (a child's cwd would not tell: it is entered before the user changes). */
export async function postgresUserCanEnter(runAs: RunAs, dir: string): Promise<boolean> {
  try {
    await run('test', ['-x', dir], runAs);
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 1) return false;
    throw childFailure(`checking that PostgreSQL's user can enter ${dir}`, 'test', error);
  }
}

/** Makes STATE_ROOT, open to PostgreSQL's user; `why` says why it is needed, for the error. */
export async function ensureStateRoot(why: string): Promise<void> {
  try {
    await mkdir(STATE_ROOT, { recursive: true });
    await chmod(STATE_ROOT, 0o755);
  } catch (error) {
    throw new StartFailure(
      `${why}, and ${STATE_ROOT} cannot be made for it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): ` +
        'set DATA_DIR to a directory that user can reach',
    );
  }
}

/** Why, as root, PostgreSQL's files are not where they were asked for. */
export function unreachable(dir: string): string {
  return `the user "${POSTGRES_USER}" that PostgreSQL runs as (it refuses root) cannot reach ${dir}`;
}

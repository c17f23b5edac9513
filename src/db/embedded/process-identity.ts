import { readFileSync } from 'node:fs';

/**
 * A process as recorded in a lock file: its pid and, where the system tells (Linux), its start
 * time, so a pid reused by an unrelated process after a crash or a reboot is not taken for it.
 */
export type ProcessIdentity = { pid: number; startTime: string | null };

function statOf(pid: number): { state: string; startTime: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces; the fields after it are plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, startTime: fields[19]! };
  } catch {
    return undefined;
  }
}

export function currentProcess(): ProcessIdentity {
  return { pid: process.pid, startTime: statOf(process.pid)?.startTime ?? null };
}

/** Whether the process is still running (a zombie is not). */
export function isRunning(identity: ProcessIdentity): boolean {
  try {
    process.kill(identity.pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = statOf(identity.pid);
  if (!stat) return true;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return identity.startTime === null || stat.startTime === identity.startTime;
}

/** The identity of a running pid, read now (for a process we did not start, such as a server left behind). */
export function identityOf(pid: number): ProcessIdentity {
  return { pid, startTime: statOf(pid)?.startTime ?? null };
}

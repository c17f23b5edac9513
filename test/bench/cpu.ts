import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

type Stat = { ppid: number; utime: number; stime: number; cutime: number; cstime: number };

function statOf(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields after the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
    return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
  } catch {
    return undefined;
  }
}

/** CPU seconds a process has used, with those of its children that ended and were waited for. */
function processSeconds(pid: number): number {
  const s = statOf(pid);
  return s ? (s.utime + s.stime + s.cutime + s.cstime) / TICKS_PER_SECOND : 0;
}

/** A PostgreSQL server's CPU: the postmaster, every backend and worker now running, and those that ended. */
function postgresSeconds(postmaster: number): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const s = statOf(pid);
    if (s && s.ppid === postmaster) ticks += s.utime + s.stime;
  }
  return ticks / TICKS_PER_SECOND + processSeconds(postmaster);
}

export type CpuSample = { gateway: number; postgres: number; redis: number };

/** Reads the CPU time of the gateway, PostgreSQL and Redis from /proc. */
export function cpuMeter(pids: { gateway: number; postmaster: number; redis: number }) {
  const read = (): CpuSample => ({
    gateway: processSeconds(pids.gateway),
    postgres: postgresSeconds(pids.postmaster),
    redis: processSeconds(pids.redis),
  });
  return {
    read,
    /** CPU seconds spent since `before`, per process and in all. */
    since(before: CpuSample): CpuSample & { total: number } {
      const now = read();
      const d = { gateway: now.gateway - before.gateway, postgres: now.postgres - before.postgres, redis: now.redis - before.redis };
      return { ...d, total: d.gateway + d.postgres + d.redis };
    },
  };
}

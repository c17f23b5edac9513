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
export function processSeconds(pid: number): number {
  const s = statOf(pid);
  return s ? (s.utime + s.stime + s.cutime + s.cstime) / TICKS_PER_SECOND : 0;
}

type PostgresSample = { children: Map<number, number>; postmaster: number };

/** Every process of a PostgreSQL server: the postmaster (with the children it has reaped) and each live child. */
function postgresSample(postmaster: number): PostgresSample {
  const children = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const s = statOf(pid);
    if (s && s.ppid === postmaster) children.set(pid, s.utime + s.stime);
  }
  const own = statOf(postmaster);
  return { children, postmaster: own ? own.utime + own.stime + own.cutime + own.cstime : 0 };
}

/**
 * CPU seconds the server spent between two samples. A backend that ended in between moved its
 * whole lifetime's CPU into the postmaster's reaped-children time; what it had spent before the
 * first sample is taken off again, so a connection closed just after the start is not counted.
 */
function postgresSpent(before: PostgresSample, after: PostgresSample): number {
  let ticks = after.postmaster - before.postmaster;
  for (const [pid, t] of after.children) ticks += t - (before.children.get(pid) ?? 0);
  for (const [pid, t] of before.children) if (!after.children.has(pid)) ticks -= t;
  return ticks / TICKS_PER_SECOND;
}

export type CpuSample = { gateway: number; postgres: PostgresSample; redis: number };
export type CpuSpent = { gateway: number; postgres: number; redis: number; total: number };

/** Reads the CPU time of the gateway, PostgreSQL and Redis from /proc. */
export function cpuMeter(pids: { gateway: number; postmaster: number; redis: number }) {
  const read = (): CpuSample => ({
    gateway: processSeconds(pids.gateway),
    postgres: postgresSample(pids.postmaster),
    redis: processSeconds(pids.redis),
  });
  return {
    read,
    /** CPU seconds spent since `before`, per process and in all. */
    since(before: CpuSample): CpuSpent {
      const now = read();
      const d = { gateway: now.gateway - before.gateway, postgres: postgresSpent(before.postgres, now.postgres), redis: now.redis - before.redis };
      return { ...d, total: d.gateway + d.postgres + d.redis };
    },
  };
}

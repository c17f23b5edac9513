import type { Db } from '../db/client.ts';
import type { DispatchJobKind, TransactionClient } from '../db/sql.ts';

export type ClaimedJob = { id: bigint; deliveryId: string; kind: DispatchJobKind; attempt: number };

/**
 * Claims due jobs for `leaseMs`. SKIP LOCKED lets any number of dispatchers, in any number of
 * processes, claim side by side without taking the same job; a claim left behind by a process
 * that died lapses with its lease and is taken over.
 */
export async function claimJobs(db: Db, worker: string, limit: number, leaseMs: number): Promise<ClaimedJob[]> {
  return db.$queryRaw<ClaimedJob[]>`
    UPDATE dispatch_jobs AS j
    SET locked_by = ${worker}, locked_until = now() + ${leaseMs} * interval '1 millisecond', attempt = j.attempt + 1
    FROM (
      SELECT id FROM dispatch_jobs
      WHERE run_at <= now() AND (locked_until IS NULL OR locked_until < now())
      ORDER BY run_at
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ) AS due
    WHERE j.id = due.id
    RETURNING j.id, j.delivery_id AS "deliveryId", j.kind::text AS kind, j.attempt`;
}

/** The changes to the queue that one round of work decided, applied in one go. */
export type JobChanges = {
  /** Jobs that are done. */
  finished: bigint[];
  /** Jobs to run again later, with their try count so far (reset to 0 on failover). */
  retry: Array<{ id: bigint; runAt: Date; attempt: number }>;
  /** New jobs (a status poll after a submission, a submission to the next provider). */
  created: Array<{ deliveryId: string; kind: DispatchJobKind; runAt: Date }>;
};

export function emptyChanges(): JobChanges {
  return { finished: [], retry: [], created: [] };
}

export async function applyJobChanges(tx: TransactionClient, worker: string, changes: JobChanges): Promise<void> {
  // Only jobs still claimed by this worker: one whose lease lapsed belongs to whoever took it over.
  if (changes.finished.length > 0) {
    await tx.$executeRaw`DELETE FROM dispatch_jobs WHERE id = ANY(${changes.finished}::bigint[]) AND locked_by = ${worker}`;
  }
  if (changes.retry.length > 0) {
    const r = changes.retry;
    await tx.$executeRaw`
      UPDATE dispatch_jobs AS j SET run_at = v.run_at, attempt = v.attempt, locked_by = NULL, locked_until = NULL
      FROM unnest(${r.map((x) => x.id)}::bigint[], ${r.map((x) => x.runAt)}::timestamptz[], ${r.map((x) => x.attempt)}::int[])
        AS v(id, run_at, attempt)
      WHERE j.id = v.id AND j.locked_by = ${worker}`;
  }
  if (changes.created.length > 0) {
    const c = changes.created;
    await tx.$executeRaw`
      INSERT INTO dispatch_jobs (delivery_id, kind, run_at)
      SELECT delivery_id, kind::"DispatchJobKind", run_at
      FROM unnest(${c.map((x) => x.deliveryId)}::uuid[], ${c.map((x) => x.kind)}::text[], ${c.map((x) => x.runAt)}::timestamptz[])
        AS v(delivery_id, kind, run_at)
      ON CONFLICT (delivery_id, kind) DO UPDATE
        SET run_at = EXCLUDED.run_at, attempt = 0, locked_by = NULL, locked_until = NULL`;
  }
}

export async function queueStats(db: Db): Promise<{ depth: number; oldestDueAgeSeconds: number }> {
  const [row] = await db.$queryRaw<Array<{ depth: bigint; age: number | null }>>`
    SELECT count(*) AS depth, EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE run_at <= now()))::float8 AS age
    FROM dispatch_jobs`;
  return { depth: Number(row?.depth ?? 0), oldestDueAgeSeconds: Math.max(0, row?.age ?? 0) };
}

import type { Db } from '../db/client.ts';
import type { DispatchJobKind, TransactionClient } from '../db/sql.ts';

export type ClaimedJob = { id: bigint; deliveryId: string; kind: DispatchJobKind; attempt: number; submissionRef: string | null };

/**
 * Claims due jobs for `leaseMs`. SKIP LOCKED lets any number of dispatchers, in any number of
 * processes, claim side by side without taking the same job; a claim left behind by a process
 * that died lapses with its lease and is taken over. A submission tried before is claimed
 * whole (its siblings come along), so its retry carries the same deliveries under the same
 * reference and the provider can recognise it.
 */
export async function claimJobs(db: Db, worker: string, limit: number, leaseMs: number): Promise<ClaimedJob[]> {
  return db.$queryRaw<ClaimedJob[]>`
    WITH due AS (
      SELECT id, submission_ref FROM dispatch_jobs
      WHERE run_at <= now() AND (locked_until IS NULL OR locked_until < now())
      ORDER BY run_at, submission_ref
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED
    ), siblings AS (
      SELECT s.id FROM dispatch_jobs s
      WHERE s.submission_ref IN (SELECT submission_ref FROM due WHERE submission_ref IS NOT NULL)
        AND s.kind = 'SUBMIT' AND s.id NOT IN (SELECT id FROM due)
        AND (s.locked_until IS NULL OR s.locked_until < now())
      FOR UPDATE SKIP LOCKED
    )
    UPDATE dispatch_jobs AS j
    SET locked_by = ${worker}, locked_until = now() + ${leaseMs} * interval '1 millisecond', attempt = j.attempt + 1
    WHERE j.id IN (SELECT id FROM due UNION ALL SELECT id FROM siblings)
    RETURNING j.id, j.delivery_id AS "deliveryId", j.kind::text AS kind, j.attempt, j.submission_ref AS "submissionRef"`;
}

/** The changes to the queue that one round of work decided, applied in one go. */
export type JobChanges = {
  /** Jobs that are done. */
  finished: bigint[];
  /** Jobs to run again later, with their try count so far; a failover starts afresh (count 0, no reference). */
  retry: Array<{ id: bigint; runAt: Date; attempt: number; newProvider?: boolean }>;
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
      UPDATE dispatch_jobs AS j SET run_at = v.run_at, attempt = v.attempt, locked_by = NULL, locked_until = NULL,
        submission_ref = CASE WHEN v.new_provider THEN NULL ELSE j.submission_ref END
      FROM unnest(${r.map((x) => x.id)}::bigint[], ${r.map((x) => x.runAt)}::timestamptz[], ${r.map((x) => x.attempt)}::int[],
        ${r.map((x) => Boolean(x.newProvider))}::boolean[]) AS v(id, run_at, attempt, new_provider)
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

/**
 * Fixes the reference of submissions about to be made, before they are made: a retry after a
 * crash finds it and submits under the same one, so the provider can tell it is a retry.
 */
export async function fixSubmissionRefs(db: Db, worker: string, refs: Array<{ jobId: bigint; ref: string }>): Promise<void> {
  if (refs.length === 0) return;
  await db.$executeRaw`
    UPDATE dispatch_jobs AS j SET submission_ref = v.ref
    FROM unnest(${refs.map((r) => r.jobId)}::bigint[], ${refs.map((r) => r.ref)}::text[]) AS v(id, ref)
    WHERE j.id = v.id AND j.locked_by = ${worker}`;
}

/**
 * Renews this worker's claim on `jobIds` and returns the ones it still holds: a claim that
 * lapsed and was taken over belongs to the other worker now.
 */
export async function extendClaims(db: Db, worker: string, jobIds: bigint[], leaseMs: number): Promise<bigint[]> {
  if (jobIds.length === 0) return [];
  const rows = await db.$queryRaw<Array<{ id: bigint }>>`
    UPDATE dispatch_jobs SET locked_until = now() + ${leaseMs} * interval '1 millisecond'
    WHERE id = ANY(${jobIds}::bigint[]) AND locked_by = ${worker}
    RETURNING id`;
  return rows.map((row) => row.id);
}

/**
 * Puts back every job this worker still holds (on shutdown: another worker takes them at once),
 * without counting the claim as a try.
 */
export async function releaseClaims(db: Db, worker: string): Promise<number> {
  return db.$executeRaw`
    UPDATE dispatch_jobs SET locked_by = NULL, locked_until = NULL, attempt = greatest(attempt - 1, 0)
    WHERE locked_by = ${worker}`;
}

export async function queueStats(db: Db): Promise<{ depth: number; oldestDueAgeSeconds: number }> {
  const [row] = await db.$queryRaw<Array<{ depth: bigint; age: number | null }>>`
    SELECT count(*) AS depth, EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE run_at <= now()))::float8 AS age
    FROM dispatch_jobs`;
  return { depth: Number(row?.depth ?? 0), oldestDueAgeSeconds: Math.max(0, row?.age ?? 0) };
}

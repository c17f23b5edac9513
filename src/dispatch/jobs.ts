import { sqlOf, type Db } from '../db/client.ts';
import type { SqlTransaction } from '../db/pg.ts';
import type { Delivery, DispatchJobKind } from '../db/sql.ts';
import { DELIVERY_COLUMNS, reviveDelivery } from '../deliveries/records.ts';
import { isoFormatter } from '../shared/iso-dates.ts';

export type ClaimedJob = {
  id: bigint;
  deliveryId: string;
  kind: DispatchJobKind;
  attempt: number;
  submissionRef: string | null;
  /** Since when the provider may hold this submission though its answer was lost (ask before resending). */
  unconfirmedSince: Date | null;
};

/** A claimed job with its delivery as it stands (absent when the delivery is gone). */
export type ClaimedWork = {
  job: ClaimedJob;
  delivery?: ClaimedDelivery;
};

export type ClaimedDelivery = Delivery & {
  /** The text for this recipient (personalised, or the message's). */
  text: string;
  template: string;
  senderId: string;
  /** Whether earlier tries left attempts on record (retries, failovers). */
  hasAttempts: boolean;
};

/**
 * Claims due jobs for `leaseMs` and reads their deliveries, in one statement. SKIP LOCKED lets
 * any number of dispatchers, in any number of processes, claim side by side without taking the
 * same job; a claim left behind by a process that died lapses with its lease and is taken over.
 * A submission tried before is claimed whole (its siblings come along), so its retry carries
 * the same deliveries under the same reference and the provider can recognise it.
 */
const CLAIM = {
  name: 'jobs-claim',
  text: `
    WITH due AS (
      SELECT id, submission_ref FROM dispatch_jobs
      WHERE run_at <= now() AND (locked_until IS NULL OR locked_until < now())
      ORDER BY run_at
      LIMIT $2
      FOR UPDATE SKIP LOCKED
    ), siblings AS (
      SELECT s.id FROM dispatch_jobs s
      WHERE s.submission_ref IN (SELECT submission_ref FROM due WHERE submission_ref IS NOT NULL)
        AND s.kind = 'SUBMIT' AND s.id NOT IN (SELECT id FROM due)
        AND (s.locked_until IS NULL OR s.locked_until < now())
      FOR UPDATE SKIP LOCKED
    ), claimed AS (
      -- = ANY of an array, not IN or a join: the planner probes the primary key for each one
      -- instead of scanning the queue, however small it believes the queue to be.
      UPDATE dispatch_jobs AS j
      SET locked_by = $1, locked_until = now() + $3 * interval '1 millisecond', attempt = j.attempt + 1
      WHERE j.id = ANY(ARRAY(SELECT id FROM due UNION ALL SELECT id FROM siblings))
      RETURNING j.id, j.delivery_id, j.kind, j.attempt, j.submission_ref, j.unconfirmed_since
    )
    SELECT c.id::text AS "jobId", c.delivery_id AS "jobDeliveryId", c.kind::text AS kind, c.attempt,
      c.submission_ref AS "submissionRef", c.unconfirmed_since AS "unconfirmedSince", w.*
    FROM claimed c LEFT JOIN LATERAL (
      SELECT ${DELIVERY_COLUMNS}, COALESCE(d.body, m.text) AS text, m.text AS template,
        EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.delivery_created_at = d.created_at) AS "hasAttempts"
      FROM deliveries d JOIN messages m ON m.id = d.message_id
      WHERE d.id = c.delivery_id
    ) w ON true`,
};

type ClaimRow = ClaimedDelivery & {
  jobId: string;
  jobDeliveryId: string;
  kind: DispatchJobKind;
  attempt: number;
  submissionRef: string | null;
  unconfirmedSince: Date | null;
};

export async function claimWork(db: Db, worker: string, limit: number, leaseMs: number): Promise<ClaimedWork[]> {
  const rows = await sqlOf(db).query<ClaimRow>(CLAIM, [worker, limit, leaseMs]);
  return rows.map(({ jobId, jobDeliveryId, kind, attempt, submissionRef, unconfirmedSince, ...delivery }) => ({
    job: { id: BigInt(jobId), deliveryId: jobDeliveryId, kind, attempt, submissionRef, unconfirmedSince },
    delivery: delivery.id ? reviveDelivery(delivery) as ClaimedDelivery : undefined,
  }));
}

/** The changes to the queue that one round of work decided, applied in one go. */
export type JobChanges = {
  /** Jobs that are done. */
  finished: bigint[];
  /** Jobs to run again later, with their try count so far; a failover starts afresh (count 0, no reference). */
  retry: Array<{ id: bigint; runAt: Date; attempt: number; newProvider?: boolean; unconfirmedSince?: Date | null }>;
  /** Submissions a provider took: each job becomes its delivery's status poll. */
  poll: Array<{ id: bigint; runAt: Date }>;
};

export function emptyChanges(): JobChanges {
  return { finished: [], retry: [], poll: [] };
}

/**
 * Only jobs still claimed by this worker change: one whose lease lapsed belongs to whoever took
 * it over. A submission job becomes the poll job in place, unless its delivery has one already.
 */
const APPLY_CHANGES = {
  name: 'jobs-apply-changes',
  text: `
    WITH finished AS (
      DELETE FROM dispatch_jobs WHERE id = ANY(ARRAY(SELECT unnest($2::bigint[]))) AND locked_by = $1
    ), retried AS (
      UPDATE dispatch_jobs AS j SET run_at = v."runAt", attempt = v.attempt, locked_by = NULL, locked_until = NULL,
        submission_ref = CASE WHEN v."newProvider" THEN NULL ELSE j.submission_ref END,
        unconfirmed_since = CASE WHEN v."newProvider" THEN NULL ELSE v."unconfirmedSince" END
      FROM json_to_recordset($3::json) AS v(id bigint, "runAt" timestamptz, attempt int, "newProvider" boolean, "unconfirmedSince" timestamptz)
      WHERE j.id = v.id AND j.locked_by = $1
    )
    UPDATE dispatch_jobs AS j SET kind = 'POLL', run_at = v."runAt", attempt = 0, locked_by = NULL, locked_until = NULL,
      submission_ref = NULL, unconfirmed_since = NULL
    FROM json_to_recordset($4::json) AS v(id bigint, "runAt" timestamptz)
    WHERE j.id = v.id AND j.locked_by = $1
      AND NOT EXISTS (SELECT 1 FROM dispatch_jobs p WHERE p.delivery_id = j.delivery_id AND p.kind = 'POLL')`,
};

export async function applyJobChanges(tx: SqlTransaction, worker: string, changes: JobChanges): Promise<void> {
  const { finished, retry, poll } = changes;
  if (finished.length + retry.length + poll.length === 0) return;
  const t = isoFormatter();
  await tx.query(APPLY_CHANGES, [
    worker,
    finished.map(String),
    JSON.stringify(
      retry.map((r) => ({
        id: String(r.id),
        runAt: t.iso(r.runAt),
        attempt: r.attempt,
        newProvider: Boolean(r.newProvider),
        unconfirmedSince: r.unconfirmedSince ? t.iso(r.unconfirmedSince) : null,
      })),
    ),
    JSON.stringify(poll.map((p) => ({ id: String(p.id), runAt: t.iso(p.runAt) }))),
  ]);
}

const FIX_REFS = {
  name: 'jobs-fix-refs',
  text: `UPDATE dispatch_jobs AS j SET submission_ref = v.ref
    FROM unnest($2::bigint[], $3::text[]) AS v(id, ref)
    WHERE j.id = ANY(ARRAY(SELECT unnest($2::bigint[]))) AND j.id = v.id AND j.locked_by = $1`,
};

/**
 * Fixes the reference of submissions about to be made, before they are made: a retry after a
 * crash finds it and submits under the same one, so the provider can tell it is a retry.
 */
export async function fixSubmissionRefs(db: Db, worker: string, refs: Array<{ jobId: bigint; ref: string }>): Promise<void> {
  if (refs.length === 0) return;
  await sqlOf(db).query(FIX_REFS, [worker, refs.map((r) => String(r.jobId)), refs.map((r) => r.ref)]);
}

const EXTEND = {
  name: 'jobs-extend',
  text: `UPDATE dispatch_jobs SET locked_until = now() + $3 * interval '1 millisecond'
    WHERE id = ANY(ARRAY(SELECT unnest($2::bigint[]))) AND locked_by = $1
    RETURNING id::text AS id`,
};

/**
 * Renews this worker's claim on `jobIds` and returns the ones it still holds: a claim that
 * lapsed and was taken over belongs to the other worker now.
 */
export async function extendClaims(db: Db, worker: string, jobIds: bigint[], leaseMs: number): Promise<bigint[]> {
  if (jobIds.length === 0) return [];
  const rows = await sqlOf(db).query<{ id: string }>(EXTEND, [worker, jobIds.map(String), leaseMs]);
  return rows.map((row) => BigInt(row.id));
}

/**
 * Puts back every job this worker still holds (on shutdown: another worker takes them at once),
 * without counting the claim as a try.
 */
export async function releaseClaims(db: Db, worker: string): Promise<number> {
  const rows = await sqlOf(db).query<{ id: string }>(
    `UPDATE dispatch_jobs SET locked_by = NULL, locked_until = NULL, attempt = greatest(attempt - 1, 0)
     WHERE locked_by = $1 RETURNING id::text AS id`,
    [worker],
  );
  return rows.length;
}

export async function queueStats(db: Db): Promise<{ depth: number; oldestDueAgeSeconds: number }> {
  const [row] = await sqlOf(db).query<{ depth: number; age: number | null }>(
    `SELECT count(*)::int AS depth, EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE run_at <= now()))::float8 AS age
     FROM dispatch_jobs`,
  );
  return { depth: row?.depth ?? 0, oldestDueAgeSeconds: Math.max(0, row?.age ?? 0) };
}

import { sqlOf, type Db } from '../db/client.ts';

/** An event to POST to an endpoint, as claimed from the outbox. */
export type ClaimedNotice = { id: bigint; endpointId: string; accountId: string; seq: bigint; occurredAt: Date; attempt: number };

/**
 * Claims due outbox rows for `leaseMs`, as the dispatcher claims its jobs: SKIP LOCKED lets any
 * number of workers in any number of processes claim side by side, and a claim left by a killed
 * process lapses with its lease. Endpoints this worker already has enough requests in flight
 * for are left to the others (or to later), so one slow endpoint cannot fill the batch.
 */
const CLAIM = {
  name: 'webhooks-claim',
  text: `
    WITH due AS (
      SELECT id FROM webhook_outbox
      WHERE run_at <= now() AND (locked_until IS NULL OR locked_until < now()) AND endpoint_id <> ALL($4::uuid[])
      ORDER BY run_at
      LIMIT $2
      FOR UPDATE SKIP LOCKED
    )
    UPDATE webhook_outbox o SET locked_by = $1, locked_until = now() + $3 * interval '1 millisecond', attempt = o.attempt + 1
    WHERE o.id = ANY(ARRAY(SELECT id FROM due))
    RETURNING o.id::text AS id, o.endpoint_id AS "endpointId", o.account_id AS "accountId", o.seq::text AS seq,
      o.occurred_at AS "occurredAt", o.attempt`,
};

export async function claimNotices(db: Db, worker: string, limit: number, leaseMs: number, busyEndpoints: string[]): Promise<ClaimedNotice[]> {
  const rows = await sqlOf(db).query<{ id: string; endpointId: string; accountId: string; seq: string; occurredAt: Date; attempt: number }>(CLAIM, [
    worker,
    limit,
    leaseMs,
    busyEndpoints,
  ]);
  return rows.map((row) => ({ ...row, id: BigInt(row.id), seq: BigInt(row.seq) }));
}

/** What became of one request, to be recorded. */
export type NoticeResult = {
  notice: ClaimedNotice;
  outcome: string;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  excerpt: string | null;
  /** Unset: done (delivered, or given up). */
  retryAt?: Date;
};

/**
 * Records a batch of results in one statement: every request as an attempt; rows delivered or
 * given up leave the outbox; the others wait for their retry; an endpoint that answered 410
 * Gone is disabled and its waiting rows dropped. Only rows this worker still holds change.
 */
const RECORD = {
  name: 'webhooks-record',
  text: `
    WITH attempts_in AS (
      INSERT INTO webhook_attempts (endpoint_id, account_id, seq, attempt, outcome, status_code, duration_ms, error, response_excerpt, at)
      SELECT a."endpointId", a."accountId", a.seq, a.attempt, a.outcome, a."statusCode", a."durationMs", a.error, a.excerpt, now()
      FROM json_to_recordset($2::json) AS a("endpointId" uuid, "accountId" uuid, seq bigint, attempt int, outcome text,
        "statusCode" int, "durationMs" int, error text, excerpt text)
    ), disabled AS (
      UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'the endpoint answered 410 Gone'
      WHERE id = ANY($4::uuid[])
    ), finished AS (
      DELETE FROM webhook_outbox
      WHERE (id = ANY(ARRAY(SELECT unnest($3::bigint[]))) AND locked_by = $1) OR endpoint_id = ANY($4::uuid[])
    )
    UPDATE webhook_outbox o SET run_at = v."runAt", locked_by = NULL, locked_until = NULL
    FROM json_to_recordset($5::json) AS v(id bigint, "runAt" timestamptz)
    WHERE o.id = v.id AND o.locked_by = $1`,
};

export async function recordResults(db: Db, worker: string, results: readonly NoticeResult[]): Promise<void> {
  if (results.length === 0) return;
  const gone = [...new Set(results.filter((r) => r.outcome === 'gone').map((r) => r.notice.endpointId))];
  const retry = results.filter((r) => r.retryAt && !gone.includes(r.notice.endpointId));
  await sqlOf(db).query(RECORD, [
    worker,
    JSON.stringify(
      results.map(({ notice, ...r }) => ({
        endpointId: notice.endpointId,
        accountId: notice.accountId,
        seq: String(notice.seq),
        attempt: notice.attempt,
        outcome: r.outcome,
        statusCode: r.statusCode,
        durationMs: r.durationMs,
        error: r.error,
        excerpt: r.excerpt,
      })),
    ),
    results.filter((r) => !r.retryAt).map((r) => String(r.notice.id)),
    gone,
    JSON.stringify(retry.map((r) => ({ id: String(r.notice.id), runAt: r.retryAt!.toISOString() }))),
  ]);
}

/** Puts claimed rows back without counting the claim as a try (shutdown, or an endpoint already busy). */
export async function releaseNotices(db: Db, worker: string, ids?: readonly bigint[]): Promise<void> {
  if (ids && ids.length === 0) return;
  await sqlOf(db).query(
    {
      name: ids ? 'webhooks-release-some' : 'webhooks-release-all',
      text: `UPDATE webhook_outbox SET locked_by = NULL, locked_until = NULL, attempt = greatest(attempt - 1, 0)
        WHERE locked_by = $1 ${ids ? 'AND id = ANY(ARRAY(SELECT unnest($2::bigint[])))' : ''}`,
    },
    ids ? [worker, ids.map(String)] : [worker],
  );
}

/**
 * Queues again, for one endpoint, every event of its account after `afterSeq` still in the log
 * (at most `limit`), at once. Returns how many, and the last one's number.
 */
export async function queueReplay(db: Db, endpoint: { id: string; accountId: string }, afterSeq: bigint, limit: number) {
  const [row] = await sqlOf(db).query<{ queued: number; lastSeq: string | null }>(
    {
      name: 'webhooks-replay',
      text: `WITH events AS (
          SELECT seq, occurred_at FROM delivery_events WHERE account_id = $2 AND seq > $3 ORDER BY seq LIMIT $4
        ), queued AS (
          INSERT INTO webhook_outbox (endpoint_id, account_id, seq, occurred_at, run_at)
          SELECT $1, $2, seq, occurred_at, now() FROM events RETURNING seq
        )
        SELECT count(*)::int AS queued, max(seq)::text AS "lastSeq" FROM queued`,
    },
    [endpoint.id, endpoint.accountId, afterSeq.toString(), limit],
  );
  return { queued: row?.queued ?? 0, lastSeq: row?.lastSeq ? BigInt(row.lastSeq) : null };
}

export async function outboxStats(db: Db): Promise<{ depth: number; oldestDueAgeSeconds: number }> {
  const [row] = await sqlOf(db).query<{ depth: number; age: number | null }>(
    `SELECT count(*)::int AS depth, EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE run_at <= now()))::float8 AS age
     FROM webhook_outbox`,
  );
  return { depth: row?.depth ?? 0, oldestDueAgeSeconds: Math.max(0, row?.age ?? 0) };
}

/** Removes attempts older than `days`, a batch at a time; returns how many. */
export async function pruneAttempts(db: Db, days: number): Promise<number> {
  let removed = 0;
  for (;;) {
    const [row] = await sqlOf(db).query<{ n: number }>(
      {
        name: 'webhooks-prune-attempts',
        text: `WITH gone AS (
            DELETE FROM webhook_attempts WHERE id = ANY(ARRAY(
              SELECT id FROM webhook_attempts WHERE at < now() - $1 * interval '1 day' LIMIT 10000))
            RETURNING 1
          ) SELECT count(*)::int AS n FROM gone`,
      },
      [days],
    );
    removed += row?.n ?? 0;
    if ((row?.n ?? 0) < 10_000) return removed;
  }
}

import { sqlOf, type Db } from '../db/client.ts';
import type { SqlTransaction } from '../db/pg.ts';
import type { Destinations } from './destinations.ts';
import { LATENCY_BINS, LATENCY_EDGES } from './latency.ts';
import { addCounts, emptyCounts, type Counts } from './measurements.ts';

/** One gateway counts at a time; the others skip their turn. */
const COUNTING_LOCK = 7_112_121;
/** Events are looked for from this long before the last count on (their day's partitions): no transaction takes that long to commit. */
const EVENT_MARGIN_MS = 3_600_000;

const START = {
  name: 'routing-count-start',
  text: `SELECT pg_try_advisory_xact_lock($1) AS locked, clock_timestamp() AS now, c.counted_at AS "countedAt",
      c.conversions_through AS "conversionsThrough", c.attempts_through::text AS "attemptsThrough"
    FROM (SELECT 1) AS one LEFT JOIN routing_cursor c ON c.id = 1`,
};

/**
 * The final reports of messages a provider took that were written since the last count, by
 * provider, country, the number's first characters (its prefix is among them) and latency bin;
 * and, in the same statement, each account's cursor moved to its last event. An account's events
 * commit in the order of their numbers, so the numbers between its cursor and its counter are
 * exactly the new ones, each read once. The wait for the provider runs from acceptance, or from
 * the scheduled time of a scheduled message (looked up only for long waits, the only ones it
 * can change).
 */
const REPORTS = {
  name: 'routing-count-reports',
  text: `WITH progress AS MATERIALIZED (
      SELECT s.account_id, coalesce(c.counted_seq, 0) AS after_seq, s.last_seq
      FROM account_event_seqs s LEFT JOIN routing_event_cursors c ON c.account_id = s.account_id
      WHERE s.last_seq > coalesce(c.counted_seq, 0)
    ), advanced AS (
      INSERT INTO routing_event_cursors (account_id, counted_seq) SELECT account_id, last_seq FROM progress
      ON CONFLICT (account_id) DO UPDATE SET counted_seq = EXCLUDED.counted_seq
    )
    SELECT e.provider, d.country, left(d.recipient, $2) AS head,
      CASE WHEN e.status = 'DELIVERED' THEN width_bucket(greatest(0, extract(epoch FROM e.delivered_at - e.sent_at))::float8, $3::float8[]) END AS bin,
      count(*)::int AS reports, sum(d.segments)::int AS segments,
      sum(greatest(0, extract(epoch FROM e.sent_at - greatest(d.created_at,
        CASE WHEN e.sent_at - d.created_at > interval '1 minute' THEN (SELECT m.scheduled_at FROM messages m WHERE m.id = d.message_id) END))))::float8 AS wait
    FROM progress p
    JOIN delivery_events e ON e.account_id = p.account_id AND e.seq > p.after_seq AND e.seq <= p.last_seq
    JOIN deliveries d ON d.id = e.delivery_id
    WHERE e.occurred_at >= $1 AND e.sent_at IS NOT NULL AND e.provider IS NOT NULL
      AND e.status IN ('DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED')
    GROUP BY 1, 2, 3, 4`,
};

/**
 * Failed hand-overs (every stored attempt is one: retried, failed over, refused, unconfirmed)
 * after the last one counted, found by id in each partition. Those younger than the delay wait
 * for the next count: ids are taken before commit, and the cursor moves past what is counted.
 */
const ERRORS = {
  name: 'routing-count-errors',
  text: `SELECT a.provider, d.country, left(d.recipient, $4) AS head, count(*)::int AS errors,
      count(*) FILTER (WHERE a.error_code = 'PROVIDER_OUT_OF_CREDIT')::int AS "outOfCredit", max(a.id)::text AS "lastId"
    FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
    WHERE a.id > $1 AND a.at >= $2 AND a.at < $3
    GROUP BY 1, 2, 3`,
};

const CONVERSIONS = {
  name: 'routing-count-conversions',
  text: `SELECT provider, country, left(recipient, $3) AS head, count(*)::int AS conversions
    FROM delivery_conversions WHERE converted_at >= $1 AND converted_at < $2
    GROUP BY 1, 2, 3`,
};

const ADD = {
  name: 'routing-count-add',
  text: `INSERT INTO routing_counts AS r (bucket, provider, destination, country, reports, delivered, segments, conversions, errors,
      out_of_credit, wait_seconds, latency)
    SELECT $2, c.provider, c.destination, c.country, c.reports, c.delivered, c.segments, c.conversions, c.errors, c."outOfCredit",
      c."waitSeconds", c.latency
    FROM json_to_recordset($1::json) AS c(provider text, destination text, country text, reports int, delivered int, segments int,
      conversions int, errors int, "outOfCredit" int, "waitSeconds" float8, latency int[])
    ON CONFLICT (bucket, provider, destination) DO UPDATE SET
      reports = r.reports + EXCLUDED.reports, delivered = r.delivered + EXCLUDED.delivered, segments = r.segments + EXCLUDED.segments,
      conversions = r.conversions + EXCLUDED.conversions, errors = r.errors + EXCLUDED.errors,
      out_of_credit = r.out_of_credit + EXCLUDED.out_of_credit, wait_seconds = r.wait_seconds + EXCLUDED.wait_seconds,
      latency = ARRAY(SELECT x + y FROM unnest(r.latency, EXCLUDED.latency) WITH ORDINALITY AS u(x, y, n) ORDER BY n)`,
};

const FORGET = { name: 'routing-count-forget', text: `DELETE FROM routing_counts WHERE bucket < $1` };

const ADVANCE = {
  name: 'routing-count-advance',
  text: `INSERT INTO routing_cursor (id, counted_at, conversions_through, attempts_through) VALUES (1, $1, $2, $3)
    ON CONFLICT (id) DO UPDATE SET counted_at = EXCLUDED.counted_at, conversions_through = EXCLUDED.conversions_through,
      attempts_through = EXCLUDED.attempts_through`,
};

type Located = { provider: string; country: string; head: string };
type Start = { locked: boolean; now: Date; countedAt: Date | null; conversionsThrough: Date | null; attemptsThrough: string | null };

export type CountingOptions = {
  destinations: Destinations;
  /** The bucket (its start, ms since the epoch by the routing clock) that what is counted now goes to. */
  bucket: number;
  /** Buckets before this one have left the window. */
  forgetBefore: number;
  /** On a first count, what happened this long ago is counted too. */
  windowMs: number;
  /** Failed hand-overs and conversions are counted once they are this old. */
  delayMs: number;
};

/**
 * Counts what happened since the last count into `routing_counts` (one gateway at a time, under
 * an advisory lock): the final reports in the event log, the failed hand-overs, the
 * conversions, each once, in one transaction with the cursors that say how far counting has
 * come. What is counted now goes to the bucket of now on the routing clock, so the window moves
 * with that clock. Returns the number of destination rows added to, or undefined when another
 * gateway is counting.
 */
export async function countSinceLast(db: Db, options: CountingOptions): Promise<number | undefined> {
  return sqlOf(db).transaction(
    async (tx) => {
      const [start] = await tx.query<Start>(START, [COUNTING_LOCK]);
      if (!start!.locked) return undefined;
      const { now, countedAt } = start!;
      // A first count takes in the window before it.
      const firstCount = new Date(now.getTime() - options.windowMs);
      const settled = new Date(now.getTime() - options.delayMs);
      const conversionsSince = start!.conversionsThrough ?? firstCount;
      const counted = await countBetween(tx, options.destinations, {
        eventsFrom: countedAt ? new Date(countedAt.getTime() - EVENT_MARGIN_MS) : firstCount,
        conversions: [conversionsSince, settled],
        attempts: { after: start!.attemptsThrough ?? '0', from: countedAt ? new Date(0) : firstCount, until: settled },
      });
      if (counted.rows.length > 0) await tx.query(ADD, [JSON.stringify(counted.rows), options.bucket]);
      await tx.query(ADVANCE, [now, settled > conversionsSince ? settled : conversionsSince, counted.lastAttempt]);
      await tx.query(FORGET, [options.forgetBefore]);
      return counted.rows.length;
    },
    { byKey: true },
  );
}

type Spans = { eventsFrom: Date; conversions: [Date, Date]; attempts: { after: string; from: Date; until: Date } };

async function countBetween(tx: SqlTransaction, destinations: Destinations, spans: Spans) {
  const head = destinations.headLength;
  const reports = await tx.query<Located & { bin: number | null; reports: number; segments: number; wait: number }>(REPORTS, [
    spans.eventsFrom,
    head,
    LATENCY_EDGES,
  ]);
  const { after, from, until } = spans.attempts;
  const errors = await tx.query<Located & { errors: number; outOfCredit: number; lastId: string }>(ERRORS, [after, from, until, head]);
  const conversions = await tx.query<Located & { conversions: number }>(CONVERSIONS, [...spans.conversions, head]);
  const byKey = new Map<string, { provider: string; destination: string; country: string } & Counts>();
  const add = (row: Located, counts: Counts) => {
    const prefix = destinations.prefixOf(row.country, row.head);
    for (const destination of prefix ? [row.country, prefix] : [row.country]) {
      const key = `${row.provider}\u0000${destination}`;
      let entry = byKey.get(key);
      if (!entry) byKey.set(key, (entry = { provider: row.provider, destination, country: row.country, ...emptyCounts() }));
      addCounts(entry, counts);
    }
  };
  for (const row of reports) {
    const counts = { ...emptyCounts(), reports: row.reports, segments: row.segments, waitSeconds: row.wait };
    if (row.bin !== null && row.bin < LATENCY_BINS) {
      counts.delivered = row.reports;
      counts.latency[row.bin] = row.reports;
    }
    add(row, counts);
  }
  let lastAttempt = BigInt(spans.attempts.after);
  for (const row of errors) {
    add(row, { ...emptyCounts(), errors: row.errors, outOfCredit: row.outOfCredit });
    if (BigInt(row.lastId) > lastAttempt) lastAttempt = BigInt(row.lastId);
  }
  for (const row of conversions) add(row, { ...emptyCounts(), conversions: row.conversions });
  return { rows: [...byKey.values()], lastAttempt: lastAttempt.toString() };
}

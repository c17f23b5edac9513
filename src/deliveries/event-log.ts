import { sqlOf, type Db } from '../db/client.ts';
import type { Sql, SqlTransaction } from '../db/pg.ts';
import type { DeliveryStatus, MessageStatus } from '../db/sql.ts';
import { GatewayError } from '../shared/errors.ts';
import {
  DELIVERY_COLUMNS,
  groupAttempts,
  MESSAGE_SNAPSHOT_COLUMNS,
  reviveDelivery,
  reviveMessage,
  type AttemptSnapshot,
  type DeliveryUpdate,
} from './records.ts';
import { COUNT_COLUMNS, countsByStatus } from './status-counts.ts';

/** One change to record: the delivery as it stands after it, dates already as ISO text. */
export type NewEvent = {
  accountId: string;
  messageId: string;
  deliveryId: string;
  status: DeliveryStatus;
  /** The status the delivery leaves (none for a new delivery): the account's counts move by it. */
  previousStatus?: DeliveryStatus | null;
  messageStatus: MessageStatus;
  provider?: string | null;
  providerMessageId?: string | null;
  errorCode?: string | null;
  errorMessage?: string | null;
  sentAt?: string | null;
  deliveredAt?: string | null;
  /** What the provider sent, as received. */
  raw?: unknown;
};


/**
 * Numbers and inserts events, one block of numbers per account, in one statement, and moves the
 * account's per-status counts by what the events change. The block locks the account's counter
 * row until commit, which is what orders one account's events (a reader that has seen number n
 * has seen everything before it): run it last in a transaction, so that nothing heavier than
 * these inserts is done while the row is held. Each event is also queued for every enabled
 * webhook endpoint of its account, in the same statement.
 */
const APPEND = {
  name: 'events-append',
  text: `
    WITH input AS (
      SELECT t.*, row_number() OVER (PARTITION BY "accountId" ORDER BY ord) AS rank
      FROM json_to_recordset($1::json) AS t(ord int, "accountId" uuid, "messageId" uuid, "deliveryId" uuid, status text,
        "previousStatus" text, "messageStatus" text, provider text, "providerMessageId" text, "errorCode" text,
        "errorMessage" text, "sentAt" timestamptz, "deliveredAt" timestamptz, raw jsonb)
    ), counts AS (
      SELECT "accountId" AS account_id, count(*) AS n,
        ${countsByStatus('status', '"previousStatus"')}
      FROM input GROUP BY "accountId"
    ), blocks AS (
      -- In account order, so that concurrent writers lock the counters in the same order.
      INSERT INTO account_event_seqs (account_id, last_seq, ${COUNT_COLUMNS.join(', ')})
      SELECT account_id, n, ${COUNT_COLUMNS.join(', ')} FROM counts ORDER BY account_id
      ON CONFLICT (account_id) DO UPDATE SET last_seq = account_event_seqs.last_seq + EXCLUDED.last_seq,
        ${COUNT_COLUMNS.map((c) => `${c} = account_event_seqs.${c} + EXCLUDED.${c}`).join(', ')}
      RETURNING account_id, last_seq
    ), events_in AS (
      INSERT INTO delivery_events (account_id, seq, message_id, delivery_id, status, message_status, provider,
        provider_message_id, error_code, error_message, sent_at, delivered_at, raw, occurred_at)
      SELECT i."accountId", b.last_seq - c.n + i.rank, i."messageId", i."deliveryId", i.status::"DeliveryStatus",
        i."messageStatus"::"MessageStatus", i.provider, i."providerMessageId", i."errorCode", i."errorMessage",
        i."sentAt", i."deliveredAt", i.raw, $2
      FROM input i JOIN blocks b ON b.account_id = i."accountId" JOIN counts c ON c.account_id = i."accountId"
    ), hooks AS MATERIALIZED (
      -- One probe per account of the batch: an account without an enabled endpoint adds nothing more.
      SELECT w.id, w.account_id FROM counts c JOIN webhook_endpoints w ON w.account_id = c.account_id AND w.enabled
    ), outbox_in AS (
      -- The intent to notify each endpoint commits with the event (see webhooks/outbox.ts).
      INSERT INTO webhook_outbox (endpoint_id, account_id, seq, occurred_at, run_at)
      SELECT h.id, i."accountId", b.last_seq - c.n + i.rank, $2, $2
      FROM hooks h JOIN input i ON i."accountId" = h.account_id JOIN blocks b ON b.account_id = h.account_id
        JOIN counts c ON c.account_id = h.account_id
    )
    SELECT account_id AS "accountId", last_seq::text AS "lastSeq" FROM blocks`,
};

/** Appends `events` (see APPEND) and returns their numbers, in the order given. */
export async function appendEvents(tx: SqlTransaction, events: readonly NewEvent[], occurredAt: Date): Promise<bigint[]> {
  if (events.length === 0) return [];
  const rows = await tx.query<{ accountId: string; lastSeq: string }>(APPEND, [
    JSON.stringify(events.map((event, ord) => ({ ord, ...event }))),
    occurredAt,
  ]);
  // Each account's numbers are the last of its block, counted back by how many it took.
  const counts = new Map<string, bigint>();
  for (const e of events) counts.set(e.accountId, (counts.get(e.accountId) ?? 0n) + 1n);
  const next = new Map(rows.map((row) => [row.accountId, BigInt(row.lastSeq) - counts.get(row.accountId)! + 1n]));
  return events.map((e) => {
    const seq = next.get(e.accountId)!;
    next.set(e.accountId, seq + 1n);
    return seq;
  });
}

export async function lastSeq(db: Db, accountId: string): Promise<bigint> {
  const [row] = await sqlOf(db).query<{ lastSeq: string }>(
    { name: 'events-last-seq', text: `SELECT last_seq::text AS "lastSeq" FROM account_event_seqs WHERE account_id = $1` },
    [accountId],
  );
  return BigInt(row?.lastSeq ?? 0);
}

/** The last event number of each account that has any. */
export async function lastSeqs(db: Db, accountIds: string[]): Promise<Map<string, bigint>> {
  const rows = await sqlOf(db).query<{ accountId: string; lastSeq: string }>(
    {
      name: 'events-last-seqs',
      text: `SELECT account_id AS "accountId", last_seq::text AS "lastSeq" FROM account_event_seqs WHERE account_id = ANY($1::uuid[])`,
    },
    [accountIds],
  );
  return new Map(rows.map((row) => [row.accountId, BigInt(row.lastSeq)]));
}

type EventRow = {
  seq: string;
  occurredAt: Date;
  eventStatus: DeliveryStatus;
  messageStatus: MessageStatus;
  eventProvider: string | null;
  eventProviderMessageId: string | null;
  eventErrorCode: string | null;
  eventErrorMessage: string | null;
  eventSentAt: Date | null;
  eventDeliveredAt: Date | null;
  delivery: object;
  message: object;
};

const EVENT_COLUMNS = `
  e.seq::text AS seq, e.occurred_at AS "occurredAt", e.status::text AS "eventStatus",
  e.message_status::text AS "messageStatus", e.provider AS "eventProvider",
  e.provider_message_id AS "eventProviderMessageId", e.error_code AS "eventErrorCode",
  e.error_message AS "eventErrorMessage", e.sent_at AS "eventSentAt", e.delivered_at AS "eventDeliveredAt",
  (SELECT to_jsonb(x) FROM (SELECT ${DELIVERY_COLUMNS}) x) AS delivery,
  (SELECT to_jsonb(y) FROM (SELECT ${MESSAGE_SNAPSHOT_COLUMNS}) y) AS message`;

const MAX_SEQ = '9223372036854775807';

/** One account's events in a range of numbers; with a message, through the (account, message, seq) index. */
const LOAD_UPDATES = {
  name: 'events-load-updates',
  text: `SELECT ${EVENT_COLUMNS}
    FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id JOIN messages m ON m.id = e.message_id
    WHERE e.account_id = $1 AND e.seq > $2 AND e.seq <= $3
    ORDER BY e.seq LIMIT $4`,
};
const LOAD_MESSAGE_UPDATES = {
  name: 'events-load-message-updates',
  text: `SELECT ${EVENT_COLUMNS}
    FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id JOIN messages m ON m.id = e.message_id
    WHERE e.account_id = $1 AND e.message_id = $5 AND e.seq > $2 AND e.seq <= $3
    ORDER BY e.seq LIMIT $4`,
};

/**
 * Reads an account's updates after `afterSeq` (up to `uptoSeq` when given), in order, as they
 * were when recorded: the delivery and message show the state of that event.
 */
export async function loadUpdates(
  db: Db,
  accountId: string,
  range: { afterSeq: bigint; uptoSeq?: bigint; messageId?: string; limit: number },
): Promise<DeliveryUpdate[]> {
  const sql = sqlOf(db);
  const bounds = [accountId, range.afterSeq.toString(), range.uptoSeq?.toString() ?? MAX_SEQ, range.limit];
  const rows = range.messageId
    ? await sql.query<EventRow>(LOAD_MESSAGE_UPDATES, [...bounds, range.messageId])
    : await sql.query<EventRow>(LOAD_UPDATES, bounds);
  if (rows.length === 0) return [];
  const revived = rows.map((row) => ({ ...row, delivery: reviveDelivery(row.delivery), message: reviveMessage(row.message) }));
  const attempts = await loadAttempts(sql, [...new Map(revived.map((r) => [r.delivery.id, r.delivery])).values()]);
  return revived.map(({ delivery, message, ...row }) => {
    return {
      seq: BigInt(row.seq),
      occurredAt: row.occurredAt,
      messageId: message.id,
      messageStatus: row.messageStatus,
      delivery: {
        ...delivery,
        status: row.eventStatus,
        provider: row.eventProvider,
        providerMessageId: row.eventProviderMessageId,
        errorCode: row.eventErrorCode,
        errorMessage: row.eventErrorMessage,
        sentAt: row.eventSentAt,
        deliveredAt: row.eventDeliveredAt,
        updatedAt: row.occurredAt,
        attempts: (attempts.get(delivery.id) ?? []).filter((a) => a.at <= row.occurredAt),
        message: { ...message, status: row.messageStatus },
      },
    };
  });
}

/**
 * Stored attempts (retries, failovers, failures), then the submission that a provider took,
 * which the delivery itself records (its provider and sent_at): it is always the last.
 */
const LOAD_ATTEMPTS = {
  name: 'events-load-attempts',
  text: `SELECT "deliveryId", provider, at, outcome, "errorCode", "errorMessage" FROM (
      SELECT delivery_id AS "deliveryId", provider, at, outcome, error_code AS "errorCode", error_message AS "errorMessage", 0 AS part, id
      -- With the days the deliveries were made, only those days' partitions are opened.
      FROM delivery_attempts WHERE delivery_id = ANY(ARRAY(SELECT unnest($1::uuid[])))
        AND delivery_created_at = ANY(ARRAY(SELECT unnest($2::timestamptz[])))
      UNION ALL
      SELECT id, provider, sent_at, 'SUBMITTED', NULL, NULL, 1, 0
      FROM deliveries WHERE id = ANY(ARRAY(SELECT unnest($1::uuid[]))) AND sent_at IS NOT NULL AND provider IS NOT NULL
    ) a ORDER BY "deliveryId", part, id`,
};

export async function loadAttempts(
  sql: Sql | SqlTransaction,
  deliveries: ReadonlyArray<{ id: string; createdAt: Date }>,
): Promise<Map<string, AttemptSnapshot[]>> {
  if (deliveries.length === 0) return new Map();
  const ids = deliveries.map((d) => d.id);
  const days = [...new Set(deliveries.map((d) => d.createdAt.getTime()))].map((t) => new Date(t));
  return groupAttempts(await sql.query<AttemptSnapshot & { deliveryId: string }>(LOAD_ATTEMPTS, [ids, days]));
}

const CURSOR_PREFIX = 'evt:';

export function encodeCursor(seq: bigint): string {
  return Buffer.from(`${CURSOR_PREFIX}${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): bigint {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const digits = text.startsWith(CURSOR_PREFIX) ? text.slice(CURSOR_PREFIX.length) : '';
  if (!/^\d{1,18}$/.test(digits) || encodeCursor(BigInt(digits)) !== cursor) {
    throw new GatewayError('BAD_USER_INPUT', 'The cursor is not one this API issued.', { argument: 'after' });
  }
  return BigInt(digits);
}

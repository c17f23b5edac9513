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

import { Prisma, type Delivery, type DeliveryStatus, type MessageStatus, type TransactionClient } from '../db/sql.ts';
import type { Db } from '../db/client.ts';
import { GatewayError } from '../graphql/errors.ts';
import {
  DELIVERY_COLUMNS,
  groupAttempts,
  MESSAGE_SNAPSHOT_COLUMNS,
  reviveDelivery,
  reviveMessage,
  type AttemptSnapshot,
  type DeliveryUpdate,
} from './records.ts';

export type NewEvent = {
  accountId: string;
  messageId: string;
  deliveryId: string;
  status: DeliveryStatus;
  messageStatus: MessageStatus;
  provider: string | null;
  providerMessageId: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  sentAt: Date | null;
  deliveredAt: Date | null;
  raw: unknown;
};

/** The event that records `delivery` as it now is. */
export function eventOf(delivery: Delivery, messageStatus: MessageStatus, raw: unknown = null): NewEvent {
  return {
    accountId: delivery.accountId,
    messageId: delivery.messageId,
    deliveryId: delivery.id,
    status: delivery.status,
    messageStatus,
    provider: delivery.provider,
    providerMessageId: delivery.providerMessageId,
    errorCode: delivery.errorCode,
    errorMessage: delivery.errorMessage,
    sentAt: delivery.sentAt,
    deliveredAt: delivery.deliveredAt,
    raw,
  };
}

/**
 * Appends events and returns their per-account numbers, in the order given. Taking the numbers
 * locks the account's counter row until commit, so events of one account become visible in the
 * order of their numbers: a reader that has seen number n has seen everything before it.
 * Call it last in a transaction to hold that lock briefly.
 */
export async function appendEvents(tx: TransactionClient, events: NewEvent[], occurredAt: Date): Promise<bigint[]> {
  if (events.length === 0) return [];
  // One statement: take a block of numbers per account (in account order, so concurrent
  // writers lock the counters in the same order) and number the events within it.
  const rows = await tx.$queryRaw<Array<{ accountId: string; seq: bigint }>>`
    WITH input AS (
      SELECT t.*, row_number() OVER (PARTITION BY account_id ORDER BY ord) AS rank
      FROM unnest(
        ${events.map((e) => e.accountId)}::uuid[], ${events.map((e) => e.messageId)}::uuid[],
        ${events.map((e) => e.deliveryId)}::uuid[], ${events.map((e) => e.status)}::text[],
        ${events.map((e) => e.messageStatus)}::text[], ${events.map((e) => e.provider)}::text[],
        ${events.map((e) => e.providerMessageId)}::text[], ${events.map((e) => e.errorCode)}::text[],
        ${events.map((e) => e.errorMessage)}::text[], ${events.map((e) => e.sentAt)}::timestamptz[],
        ${events.map((e) => e.deliveredAt)}::timestamptz[],
        ${events.map((e) => (e.raw === undefined || e.raw === null ? null : JSON.stringify(e.raw)))}::jsonb[]
      ) WITH ORDINALITY AS t(account_id, message_id, delivery_id, status, message_status, provider, provider_message_id,
        error_code, error_message, sent_at, delivered_at, raw, ord)
    ), counts AS (
      SELECT account_id, count(*) AS n FROM input GROUP BY account_id
    ), blocks AS (
      INSERT INTO account_event_seqs (account_id, last_seq)
      SELECT account_id, n FROM counts ORDER BY account_id
      ON CONFLICT (account_id) DO UPDATE SET last_seq = account_event_seqs.last_seq + EXCLUDED.last_seq
      RETURNING account_id, last_seq
    )
    INSERT INTO delivery_events (account_id, seq, message_id, delivery_id, status, message_status, provider,
      provider_message_id, error_code, error_message, sent_at, delivered_at, raw, occurred_at)
    SELECT i.account_id, b.last_seq - c.n + i.rank, i.message_id, i.delivery_id, i.status::"DeliveryStatus",
      i.message_status::"MessageStatus", i.provider, i.provider_message_id, i.error_code, i.error_message,
      i.sent_at, i.delivered_at, i.raw, ${occurredAt}::timestamptz
    FROM input i JOIN blocks b ON b.account_id = i.account_id JOIN counts c ON c.account_id = i.account_id
    RETURNING account_id AS "accountId", seq`;
  // Each account's numbers are contiguous and follow the order of its events.
  const first = new Map<string, bigint>();
  for (const row of rows) {
    const known = first.get(row.accountId);
    if (known === undefined || row.seq < known) first.set(row.accountId, row.seq);
  }
  const rank = new Map<string, bigint>();
  return events.map((event) => {
    const offset = rank.get(event.accountId) ?? 0n;
    rank.set(event.accountId, offset + 1n);
    return first.get(event.accountId)! + offset;
  });
}

export async function lastSeq(db: Db, accountId: string): Promise<bigint> {
  const row = await db.accountEventSeq.findUnique({ where: { accountId }, select: { lastSeq: true } });
  return row?.lastSeq ?? 0n;
}

type EventRow = {
  seq: bigint;
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

/**
 * Reads an account's updates after `afterSeq` (up to `uptoSeq` when given), in order, as they
 * were when recorded: the delivery and message show the state of that event.
 */
export async function loadUpdates(
  db: Db,
  accountId: string,
  range: { afterSeq: bigint; uptoSeq?: bigint; messageId?: string; limit: number },
): Promise<DeliveryUpdate[]> {
  const rows = await db.$queryRaw<EventRow[]>`
    SELECT e.seq, e.occurred_at AS "occurredAt", e.status::text AS "eventStatus",
      e.message_status::text AS "messageStatus", e.provider AS "eventProvider",
      e.provider_message_id AS "eventProviderMessageId", e.error_code AS "eventErrorCode",
      e.error_message AS "eventErrorMessage", e.sent_at AS "eventSentAt", e.delivered_at AS "eventDeliveredAt",
      (SELECT to_jsonb(x) FROM (SELECT ${DELIVERY_COLUMNS}) x) AS delivery,
      (SELECT to_jsonb(y) FROM (SELECT ${MESSAGE_SNAPSHOT_COLUMNS}) y) AS message
    FROM delivery_events e
    JOIN deliveries d ON d.id = e.delivery_id
    JOIN messages m ON m.id = e.message_id
    WHERE e.account_id = ${accountId}::uuid AND e.seq > ${range.afterSeq}
      ${range.uptoSeq === undefined ? Prisma.empty : Prisma.sql`AND e.seq <= ${range.uptoSeq}`}
      ${range.messageId === undefined ? Prisma.empty : Prisma.sql`AND e.message_id = ${range.messageId}::uuid`}
    ORDER BY e.seq
    LIMIT ${range.limit}`;
  if (rows.length === 0) return [];
  const revived = rows.map((row) => ({ ...row, delivery: reviveDelivery(row.delivery), message: reviveMessage(row.message) }));
  const attempts = await loadAttempts(db, [...new Set(revived.map((r) => r.delivery.id))]);
  return revived.map(({ delivery, message, ...row }) => {
    return {
      seq: row.seq,
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

export async function loadAttempts(db: Db | TransactionClient, deliveryIds: string[]): Promise<Map<string, AttemptSnapshot[]>> {
  if (deliveryIds.length === 0) return new Map();
  const rows = await db.deliveryAttempt.findMany({
    where: { deliveryId: { in: deliveryIds } },
    orderBy: { id: 'asc' },
    select: { deliveryId: true, provider: true, at: true, outcome: true, errorCode: true, errorMessage: true },
  });
  return groupAttempts(rows);
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

import { sqlOf, type Db } from '../db/client.ts';
import { encodeCursor } from '../deliveries/event-log.ts';
import { globalIdOf } from '../graphql/ids.ts';
import type { ClaimedNotice } from './outbox.ts';

/** The body of one webhook (see CONTRACT.md, "Delivery webhooks"). */
export type DeliveryWebhook = {
  type: 'delivery.updated';
  timestamp: string;
  data: {
    cursor: string;
    messageId: string;
    messageStatus: string;
    occurredAt: string;
    delivery: {
      id: string;
      recipient: string;
      status: string;
      provider: string | null;
      providerMessageId: string | null;
      errorCode: string | null;
      errorMessage: string | null;
      sentAt: string | null;
      deliveredAt: string | null;
      updatedAt: string;
    };
  };
};

/** The events, by (account, number), with what the body needs. */
const LOAD_EVENTS = {
  name: 'webhooks-load-events',
  text: `SELECT e.account_id AS "accountId", e.seq::text AS seq, e.message_id AS "messageId", e.delivery_id AS "deliveryId",
      d.recipient, e.status::text AS status, e.message_status::text AS "messageStatus", e.provider,
      e.provider_message_id AS "providerMessageId", e.error_code AS "errorCode", e.error_message AS "errorMessage",
      e.sent_at AS "sentAt", e.delivered_at AS "deliveredAt", e.occurred_at AS "occurredAt"
    FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS k(account_id, seq, occurred_at)
    -- With its time, each event is looked up in its own partition of the log only.
    JOIN delivery_events e ON e.account_id = k.account_id AND e.seq = k.seq AND e.occurred_at = k.occurred_at
    JOIN deliveries d ON d.id = e.delivery_id`,
};

type EventRow = {
  accountId: string;
  seq: string;
  messageId: string;
  deliveryId: string;
  recipient: string;
  status: string;
  messageStatus: string;
  provider: string | null;
  providerMessageId: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  sentAt: Date | null;
  deliveredAt: Date | null;
  occurredAt: Date;
};

/**
 * The body of each notice's event, built from the event log when it is sent (the outbox holds
 * only the event's number). An event no longer in the log has none.
 */
export async function loadBodies(db: Db, notices: readonly ClaimedNotice[]): Promise<Map<string, DeliveryWebhook>> {
  const keys = [...new Map(notices.map((n) => [bodyKey(n), n])).values()];
  if (keys.length === 0) return new Map();
  const rows = await sqlOf(db).query<EventRow>(LOAD_EVENTS, [
    keys.map((k) => k.accountId),
    keys.map((k) => String(k.seq)),
    keys.map((k) => k.occurredAt),
  ]);
  return new Map(rows.map((row) => [bodyKey(row), bodyOf(row)]));
}

export const bodyKey = (event: { accountId: string; seq: bigint | string }) => `${event.accountId}:${event.seq}`;

function bodyOf(row: EventRow): DeliveryWebhook {
  const occurredAt = row.occurredAt.toISOString();
  return {
    type: 'delivery.updated',
    timestamp: occurredAt,
    data: {
      cursor: encodeCursor(BigInt(row.seq)),
      messageId: globalIdOf('Message', row.messageId),
      messageStatus: row.messageStatus,
      occurredAt,
      delivery: {
        id: globalIdOf('Delivery', row.deliveryId),
        recipient: row.recipient,
        status: row.status,
        provider: row.provider,
        providerMessageId: row.providerMessageId,
        errorCode: row.errorCode,
        errorMessage: row.errorMessage,
        sentAt: row.sentAt?.toISOString() ?? null,
        deliveredAt: row.deliveredAt?.toISOString() ?? null,
        updatedAt: occurredAt,
      },
    },
  };
}

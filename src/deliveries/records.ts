import { groupBy } from '../shared/group-by.ts';
import { Prisma, type Delivery, type DeliveryAttempt, type Message, type MessageStatus } from '../db/sql.ts';

/** A message as carried in updates: the row without its bookkeeping columns. */
export type MessageSnapshot = Omit<
  Message,
  'requestHash' | 'scheduledCount' | 'queuedCount' | 'sentCount' | 'deliveredCount' | 'failedCount' | 'rejectedRecipients' | 'requestedProvider'
>;

export type AttemptSnapshot = Pick<DeliveryAttempt, 'provider' | 'at' | 'outcome' | 'errorCode' | 'errorMessage'>;

/**
 * A delivery row, optionally with its message and attempts already attached, so that an update
 * fanned out to many subscribers needs no query per subscriber.
 */
export type DeliveryWithRelations = Delivery & { message?: MessageSnapshot; attempts?: AttemptSnapshot[] };

export type DeliveryUpdate = {
  seq: bigint;
  occurredAt: Date;
  messageId: string;
  messageStatus: MessageStatus;
  delivery: DeliveryWithRelations;
};

/** Raw SQL reads money as text (never through a float); `revive*` turns it back into Decimals. */
export const DELIVERY_COLUMNS = `
  d.id, d.message_id AS "messageId", d.account_id AS "accountId", d.recipient, d.country, d.body, d.variables,
  d.segments, d.price::text AS price, d.status::text AS status, d.route, d.route_index AS "routeIndex", d.provider,
  d.provider_message_id AS "providerMessageId", d.error_code AS "errorCode",
  d.error_message AS "errorMessage", d.sent_at AS "sentAt", d.delivered_at AS "deliveredAt",
  d.created_at AS "createdAt", d.updated_at AS "updatedAt"`;

export const MESSAGE_SNAPSHOT_COLUMNS = `
  m.id, m.account_id AS "accountId", m.text, m.sender_id AS "senderId", m.reference,
  m.status::text AS status, m.encoding::text AS encoding, m.segments, m.recipient_count AS "recipientCount",
  m.cost::text AS cost, m.currency, m.scheduled_at AS "scheduledAt", m.created_at AS "createdAt", m.updated_at AS "updatedAt"`;

export function groupAttempts(rows: Array<AttemptSnapshot & { deliveryId: string }>): Map<string, AttemptSnapshot[]> {
  const byDelivery = groupBy(rows, (row) => row.deliveryId);
  return new Map([...byDelivery].map(([id, list]) => [id, list.map(({ deliveryId: _, ...attempt }) => attempt)]));
}

const DATE_FIELDS = new Set(['sentAt', 'deliveredAt', 'createdAt', 'updatedAt', 'scheduledAt', 'occurredAt', 'at']);
const DECIMAL_FIELDS = new Set(['price', 'cost']);

/** Turns JSON or text columns back into the values rows hold: ISO dates into Dates, money into Decimals. */
function reviveValue(key: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (DATE_FIELDS.has(key)) return new Date(value);
  if (DECIMAL_FIELDS.has(key)) return new Prisma.Decimal(value);
  return value;
}

function revive<T>(value: object): T {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reviveValue(k, v)])) as T;
}

export const reviveDelivery = (row: object) => revive<Delivery>(row);
export const reviveMessage = (row: object) => revive<MessageSnapshot>(row);

import { groupBy } from '../shared/group-by.ts';
import { Prisma, type Delivery, type DeliveryAttempt, type Message, type MessageStatus } from '../db/sql.ts';

/** A message as carried in updates: the row without its bookkeeping columns. */
export type MessageSnapshot = Omit<
  Message,
  'requestHash' | 'scheduledCount' | 'queuedCount' | 'sentCount' | 'deliveredCount' | 'failedCount' | 'canceledCount' | 'rejectedRecipients' | 'requestedProvider'
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
  d.id, d.message_id AS "messageId", d.account_id AS "accountId", d.recipient, d.sender_id AS "senderId", d.country, d.body, d.variables,
  d.segments, d.price::text AS price, d.status::text AS status, d.route, d.route_index AS "routeIndex", d.provider,
  d.provider_message_id AS "providerMessageId", d.error_code AS "errorCode",
  d.error_message AS "errorMessage", d.sent_at AS "sentAt", d.delivered_at AS "deliveredAt",
  d.created_at AS "createdAt", d.updated_at AS "updatedAt"`;

export const MESSAGE_SNAPSHOT_COLUMNS = `
  m.id, m.account_id AS "accountId", m.text, m.sender_id AS "senderId", m.reference,
  m.status::text AS status, m.encoding::text AS encoding, m.segments, m.recipient_count AS "recipientCount",
  m.cost::text AS cost, m.currency, m.scheduled_at AS "scheduledAt", m.created_at AS "createdAt", m.updated_at AS "updatedAt"`;

/** A copy of a delivery's own fields (an explicit literal: many times cheaper than a spread on hot paths). */
export function copyDelivery(d: Delivery): Delivery {
  return {
    id: d.id,
    messageId: d.messageId,
    accountId: d.accountId,
    recipient: d.recipient,
    senderId: d.senderId,
    country: d.country,
    body: d.body,
    variables: d.variables,
    segments: d.segments,
    price: d.price,
    status: d.status,
    route: d.route,
    routeIndex: d.routeIndex,
    provider: d.provider,
    providerMessageId: d.providerMessageId,
    errorCode: d.errorCode,
    errorMessage: d.errorMessage,
    sentAt: d.sentAt,
    deliveredAt: d.deliveredAt,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

/**
 * A delivery's attempts with the submission its provider took: not stored as an attempt, since
 * the delivery records it (provider, sentAt), and always the last.
 */
export function withSubmission(stored: AttemptSnapshot[], delivery: Pick<Delivery, 'provider' | 'sentAt'>): AttemptSnapshot[] {
  if (!delivery.sentAt || !delivery.provider) return stored;
  return [...stored, { provider: delivery.provider, at: delivery.sentAt, outcome: 'SUBMITTED', errorCode: null, errorMessage: null }];
}

export function groupAttempts(rows: Array<AttemptSnapshot & { deliveryId: string }>): Map<string, AttemptSnapshot[]> {
  const byDelivery = groupBy(rows, (row) => row.deliveryId);
  return new Map([...byDelivery].map(([id, list]) => [id, list.map(({ deliveryId: _, ...attempt }) => attempt)]));
}

const DATE_FIELDS = ['sentAt', 'deliveredAt', 'createdAt', 'updatedAt', 'scheduledAt', 'occurredAt', 'at'];
const DECIMAL_FIELDS = ['price', 'cost'];

/**
 * Turns JSON or text columns of a row back into the values rows hold, in place: ISO dates into
 * Dates, money into Decimals. Only the row's own fields: a customer's placeholder named `cost`
 * is not money.
 */
function revive<T>(value: object): T {
  const row = value as Record<string, unknown>;
  for (const key of DATE_FIELDS) if (typeof row[key] === 'string') row[key] = new Date(row[key]);
  for (const key of DECIMAL_FIELDS) if (typeof row[key] === 'string') row[key] = new Prisma.Decimal(row[key]);
  return value as T;
}

export const reviveDelivery = (row: object) => revive<Delivery>(row);
export const reviveMessage = (row: object) => revive<MessageSnapshot>(row);

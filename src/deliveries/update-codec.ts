import type { DeliveryUpdate, MessageSnapshot } from './records.ts';
import { reviveDelivery, reviveMessage } from './records.ts';

/**
 * Wire format of one published batch of an account's updates: JSON with ISO dates, money as
 * decimal strings, and each message once however many of its deliveries changed.
 */
type Envelope = {
  accountId: string;
  messages: Record<string, MessageSnapshot>;
  updates: Array<Omit<DeliveryUpdate, 'seq' | 'delivery'> & { seq: string; delivery: Omit<DeliveryUpdate['delivery'], 'message'> }>;
};

export function encodeUpdates(accountId: string, updates: readonly DeliveryUpdate[]): string {
  const envelope: Envelope = { accountId, messages: {}, updates: [] };
  for (const { delivery, seq, ...rest } of updates) {
    const { message, ...deliveryOnly } = delivery;
    if (message) envelope.messages[message.id] = message;
    envelope.updates.push({ ...rest, seq: seq.toString(), delivery: deliveryOnly });
  }
  return JSON.stringify(envelope);
}

export function decodeUpdates(payload: string): DeliveryUpdate[] {
  // Revived field by field: a customer's placeholder named `cost` is not money.
  const envelope = JSON.parse(payload) as Envelope;
  return envelope.updates.map(({ seq, delivery, occurredAt, ...rest }) => {
    const message = envelope.messages[rest.messageId];
    return {
      ...rest,
      seq: BigInt(seq),
      occurredAt: new Date(occurredAt),
      delivery: {
        ...reviveDelivery(delivery),
        attempts: delivery.attempts?.map((attempt) => ({ ...attempt, at: new Date(attempt.at) })),
        message: message ? reviveMessage(message) : undefined,
      },
    };
  });
}

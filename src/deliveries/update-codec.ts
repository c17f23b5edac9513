import type { Decimal } from '../messages/money.ts';
import { isoFormatter } from '../shared/iso-dates.ts';
import type { AttemptSnapshot, DeliveryUpdate, DeliveryWithRelations, MessageSnapshot } from './records.ts';
import { reviveDelivery, reviveMessage } from './records.ts';

/**
 * Wire format of one published batch of an account's updates: JSON with ISO dates, money as
 * decimal strings, and each message once however many of its deliveries changed. A delivery
 * carries what an update shows of it (not its routing or personalisation).
 *
 * Dates and money are turned into strings before JSON.stringify sees them: objects with a
 * toJSON method take it off its fast path (measured: 9 µs a delivery instead of 2). A batch's
 * deliveries share most of their dates, so each date is formatted once per batch.
 */
type Wire<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] extends Decimal ? string : T[K] };
type WireAttempt = Wire<AttemptSnapshot>;
type WireDelivery = Wire<
  Pick<
    DeliveryWithRelations,
    | 'id' | 'messageId' | 'accountId' | 'recipient' | 'status' | 'provider' | 'providerMessageId' | 'errorCode'
    | 'errorMessage' | 'segments' | 'price' | 'sentAt' | 'deliveredAt' | 'createdAt' | 'updatedAt'
  >
> & { attempts?: WireAttempt[] };
type WireMessage = Wire<MessageSnapshot>;
type WireUpdate = { seq: string; occurredAt: string; messageId: string; messageStatus: DeliveryUpdate['messageStatus']; delivery: WireDelivery };
type Envelope = { accountId: string; messages: Record<string, WireMessage>; updates: WireUpdate[] };

export function encodeUpdates(accountId: string, updates: readonly DeliveryUpdate[]): string {
  const t = isoFormatter();
  const messages: Envelope['messages'] = {};
  const list: WireUpdate[] = new Array(updates.length);
  for (let i = 0; i < updates.length; i++) {
    const { seq, occurredAt, messageId, messageStatus, delivery: d } = updates[i]!;
    const m = d.message;
    if (m && messages[m.id] === undefined) {
      messages[m.id] = {
        id: m.id,
        accountId: m.accountId,
        text: m.text,
        senderId: m.senderId,
        reference: m.reference,
        status: m.status,
        encoding: m.encoding,
        segments: m.segments,
        recipientCount: m.recipientCount,
        cost: m.cost.toString(),
        currency: m.currency,
        scheduledAt: t.isoOrNull(m.scheduledAt),
        createdAt: t.iso(m.createdAt),
        updatedAt: t.iso(m.updatedAt),
      };
    }
    list[i] = {
      seq: seq.toString(),
      occurredAt: t.iso(occurredAt),
      messageId,
      messageStatus,
      delivery: {
        id: d.id,
        messageId: d.messageId,
        accountId: d.accountId,
        recipient: d.recipient,
        status: d.status,
        provider: d.provider,
        providerMessageId: d.providerMessageId,
        errorCode: d.errorCode,
        errorMessage: d.errorMessage,
        segments: d.segments,
        price: d.price.toString(),
        sentAt: t.isoOrNull(d.sentAt),
        deliveredAt: t.isoOrNull(d.deliveredAt),
        createdAt: t.iso(d.createdAt),
        updatedAt: t.iso(d.updatedAt),
        attempts: d.attempts?.map((a) => ({ provider: a.provider, at: t.iso(a.at), outcome: a.outcome, errorCode: a.errorCode, errorMessage: a.errorMessage })),
      },
    };
  }
  return JSON.stringify({ accountId, messages, updates: list } satisfies Envelope);
}

export function decodeUpdates(payload: string): DeliveryUpdate[] {
  const envelope = JSON.parse(payload) as Envelope;
  const messages = new Map(Object.entries(envelope.messages).map(([id, message]) => [id, reviveMessage(message)]));
  return envelope.updates.map(({ seq, delivery, occurredAt, messageId, messageStatus }) => ({
    seq: BigInt(seq),
    occurredAt: new Date(occurredAt),
    messageId,
    messageStatus,
    delivery: {
      // Revived field by field: a customer's placeholder named `cost` is not money.
      ...(reviveDelivery(delivery) as unknown as DeliveryWithRelations),
      attempts: delivery.attempts?.map((attempt) => ({ ...attempt, at: new Date(attempt.at) })),
      message: messages.get(messageId),
    },
  }));
}

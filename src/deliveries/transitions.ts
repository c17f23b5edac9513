import type { Db } from '../db/client.ts';
import type { Delivery, DeliveryStatus, TransactionClient } from '../db/sql.ts';
import { appendEvents, eventOf, loadAttempts } from './event-log.ts';
import { publishUpdates, type Publisher } from './publish.ts';
import {
  DELIVERY_COLUMNS,
  MESSAGE_SNAPSHOT_COLUMNS,
  reviveDelivery,
  reviveMessage,
  type DeliveryUpdate,
  type MessageSnapshot,
} from './records.ts';
import { canMove, counterOf, messageStatusOf, type StatusCounts } from './status.ts';

/** A status change reported for a delivery (by the dispatcher, a callback or a poll). */
export type Transition = {
  deliveryId: string;
  status: DeliveryStatus;
  provider?: string;
  providerMessageId?: string;
  errorCode?: string | null;
  errorMessage?: string | null;
  /** When it happened, if the provider says; otherwise now. */
  at?: Date;
  raw?: unknown;
  /**
   * Applies only while the delivery is in one of these. A submission's failure holds only for a
   * delivery still waiting to be sent: one a provider took meanwhile (another worker, after a
   * lapsed lease) keeps its course.
   */
  onlyFrom?: readonly DeliveryStatus[];
};

export type AppliedTransition = Transition & { from: DeliveryStatus; messageId: string; accountId: string };

type Locked = { id: string; status: DeliveryStatus; messageId: string; accountId: string };

/**
 * Applies status changes in one transaction and publishes the resulting updates after commit.
 * A change that would not move a delivery forward is dropped (duplicate or late reports), so
 * the same report twice makes one event. `alsoInTransaction` runs with the changes that apply
 * (possibly none), before the events are appended, for work that must commit with them.
 */
export async function recordTransitions(
  deps: { db: Db } & Publisher,
  transitions: readonly Transition[],
  alsoInTransaction?: (tx: TransactionClient, applied: AppliedTransition[], now: Date) => Promise<void>,
): Promise<DeliveryUpdate[]> {
  if (transitions.length === 0 && !alsoInTransaction) return [];
  const ids = [...new Set(transitions.map((t) => t.deliveryId))];
  const now = new Date();

  const committed = await deps.db.$transaction(
    async (tx) => {
      const locked = await tx.$queryRaw<Locked[]>`
        SELECT id, status::text AS status, message_id AS "messageId", account_id AS "accountId"
        FROM deliveries WHERE id = ANY(${ids}::uuid[]) ORDER BY id FOR UPDATE`;
      const applied = decide(locked, transitions);
      if (applied.length === 0) {
        await alsoInTransaction?.(tx, applied, now);
        return null;
      }

      const finalById = new Map<string, AppliedTransition>();
      const sentAt = new Map<string, Date>();
      for (const t of applied) {
        finalById.set(t.deliveryId, t);
        if (t.status === 'SENT') sentAt.set(t.deliveryId, validDate(t.at) ?? now);
      }
      const finals = [...finalById.values()];
      const deliveryRows = await tx.$queryRaw<object[]>`
        UPDATE deliveries AS d SET
          status = v.status::"DeliveryStatus",
          provider = COALESCE(v.provider, d.provider),
          provider_message_id = COALESCE(v.provider_message_id, d.provider_message_id),
          error_code = v.error_code,
          error_message = v.error_message,
          sent_at = COALESCE(d.sent_at, v.sent_at),
          delivered_at = COALESCE(d.delivered_at, v.delivered_at),
          updated_at = ${now}::timestamptz
        FROM unnest(
          ${finals.map((t) => t.deliveryId)}::uuid[], ${finals.map((t) => t.status)}::text[],
          ${finals.map((t) => t.provider ?? null)}::text[], ${finals.map((t) => t.providerMessageId ?? null)}::text[],
          ${finals.map((t) => t.errorCode ?? null)}::text[], ${finals.map((t) => t.errorMessage ?? null)}::text[],
          ${finals.map((t) => sentAt.get(t.deliveryId) ?? null)}::timestamptz[],
          ${finals.map((t) => (t.status === 'DELIVERED' ? (validDate(t.at) ?? now) : null))}::timestamptz[]
        ) AS v(id, status, provider, provider_message_id, error_code, error_message, sent_at, delivered_at)
        WHERE d.id = v.id
        RETURNING ${DELIVERY_COLUMNS}`;
      const deliveries = new Map(deliveryRows.map((row) => reviveDelivery(row)).map((d) => [d.id, d]));

      const messages = await updateMessageCounts(tx, applied, now);
      await alsoInTransaction?.(tx, applied, now);

      // Each change as the delivery stood right after it (a batch may move one delivery twice).
      const snapshots = applied.map((t): Delivery => {
        const delivery = deliveries.get(t.deliveryId)!;
        return {
          ...delivery,
          status: t.status,
          errorCode: t.errorCode ?? null,
          errorMessage: t.errorMessage ?? null,
          deliveredAt: t.status === 'DELIVERED' ? delivery.deliveredAt : null,
        };
      });
      const events = snapshots.map((d, i) => eventOf(d, messages.get(d.messageId)!.status, applied[i]!.raw));
      const seqs = await appendEvents(tx, events, now);
      return { events, seqs, snapshots, messages };
    },
    // Waits up to 10 s for a connection of a busy pool rather than failing at once.
    { timeout: 30_000, maxWait: 10_000 },
  );
  if (!committed) return [];

  const attempts = await loadAttempts(deps.db, [...new Set(committed.snapshots.map((d) => d.id))]);
  const updates = committed.snapshots.map((delivery, i): DeliveryUpdate => ({
    seq: committed.seqs[i]!,
    occurredAt: now,
    messageId: delivery.messageId,
    messageStatus: committed.events[i]!.messageStatus,
    delivery: { ...delivery, attempts: attempts.get(delivery.id) ?? [], message: committed.messages.get(delivery.messageId)! },
  }));
  publishUpdates(deps, updates);
  return updates;
}

/** A provider's date we can store; an unreadable one counts as none. */
function validDate(date: Date | undefined): Date | undefined {
  return date && !Number.isNaN(date.getTime()) ? date : undefined;
}

/** Keeps, in order, the changes that move each delivery forward from its current status. */
function decide(locked: Locked[], transitions: readonly Transition[]): AppliedTransition[] {
  const current = new Map(locked.map((row) => [row.id, row]));
  const applied: AppliedTransition[] = [];
  for (const t of transitions) {
    const row = current.get(t.deliveryId);
    if (!row || !canMove(row.status, t.status)) continue;
    if (t.onlyFrom && !t.onlyFrom.includes(row.status)) continue;
    applied.push({ ...t, from: row.status, messageId: row.messageId, accountId: row.accountId });
    current.set(t.deliveryId, { ...row, status: t.status });
  }
  return applied;
}

type CountRow = StatusCounts & { id: string; recipientCount: number };

async function updateMessageCounts(
  tx: TransactionClient,
  applied: AppliedTransition[],
  now: Date,
): Promise<Map<string, MessageSnapshot>> {
  const messageIds = [...new Set(applied.map((t) => t.messageId))].sort();
  const rows = await tx.$queryRaw<CountRow[]>`
    SELECT id, recipient_count AS "recipientCount", scheduled_count AS scheduled, queued_count AS queued,
      sent_count AS sent, delivered_count AS delivered, failed_count AS failed
    FROM messages WHERE id = ANY(${messageIds}::uuid[]) ORDER BY id FOR UPDATE`;
  const counts = new Map(rows.map((row) => [row.id, row]));
  for (const t of applied) {
    const row = counts.get(t.messageId)!;
    row[counterOf(t.from)] -= 1;
    row[counterOf(t.status)] += 1;
  }
  const list = [...counts.values()];
  const updated = await tx.$queryRaw<object[]>`
    UPDATE messages AS m SET
      scheduled_count = v.scheduled, queued_count = v.queued, sent_count = v.sent,
      delivered_count = v.delivered, failed_count = v.failed, status = v.status::"MessageStatus",
      updated_at = ${now}::timestamptz
    FROM unnest(
      ${list.map((r) => r.id)}::uuid[], ${list.map((r) => r.scheduled)}::int[], ${list.map((r) => r.queued)}::int[],
      ${list.map((r) => r.sent)}::int[], ${list.map((r) => r.delivered)}::int[], ${list.map((r) => r.failed)}::int[],
      ${list.map((r) => messageStatusOf(r, r.recipientCount))}::text[]
    ) AS v(id, scheduled, queued, sent, delivered, failed, status)
    WHERE m.id = v.id
    RETURNING ${MESSAGE_SNAPSHOT_COLUMNS}`;
  return new Map(updated.map((row) => reviveMessage(row)).map((m) => [m.id, m]));
}


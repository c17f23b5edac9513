import { sqlOf, type Db } from '../db/client.ts';
import type { SqlTransaction } from '../db/pg.ts';
import type { Delivery, DeliveryStatus, MessageStatus } from '../db/sql.ts';
import { publishUpdates, type Publisher } from './publish.ts';
import {
  DELIVERY_COLUMNS,
  MESSAGE_SNAPSHOT_COLUMNS,
  reviveDelivery,
  reviveMessage,
  type AttemptSnapshot,
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

/** One hand-over of a delivery to a provider, recorded with the transitions it led to. */
export type AttemptRecord = { deliveryId: string; provider: string; outcome: string; errorCode: string | null; errorMessage: string | null };

export type RecordOptions = {
  /** Recorded in the same transaction, and carried by the updates of their deliveries. */
  attempts?: readonly AttemptRecord[];
  /**
   * Work that must commit with the changes that apply (possibly none): it runs once they are
   * decided, before the event numbers are taken, so those are held briefly.
   */
  also?: (tx: SqlTransaction, applied: AppliedTransition[], now: Date) => Promise<void>;
};

type Locked = Delivery & { attempts: AttemptSnapshot[] };
type LockedMessage = MessageSnapshot & StatusCounts;

const LOCK_DELIVERIES = {
  name: 'transitions-lock-deliveries',
  text: `SELECT ${DELIVERY_COLUMNS},
      (SELECT COALESCE(json_agg(json_build_object('provider', a.provider, 'at', a.at, 'outcome', a.outcome,
        'errorCode', a.error_code, 'errorMessage', a.error_message) ORDER BY a.id), '[]'::json)
       FROM delivery_attempts a WHERE a.delivery_id = d.id) AS attempts
    FROM deliveries d WHERE d.id = ANY($1::uuid[]) ORDER BY d.id FOR UPDATE OF d`,
};

const LOCK_MESSAGES = {
  name: 'transitions-lock-messages',
  text: `SELECT ${MESSAGE_SNAPSHOT_COLUMNS}, m.scheduled_count AS scheduled, m.queued_count AS queued,
      m.sent_count AS sent, m.delivered_count AS delivered, m.failed_count AS failed
    FROM messages m WHERE m.id = ANY($1::uuid[]) ORDER BY m.id FOR UPDATE`,
};

/**
 * The changes decided, in one statement: each delivery's new state, each message's counts and
 * status, the attempts, and an event per change, numbered from one block per account.
 */
const WRITE = {
  name: 'transitions-write',
  text: `
    WITH delivery_state AS (
      SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[])
        AS v(id, status, provider, provider_message_id, error_code, error_message, sent_at, delivered_at)
    ), deliveries_updated AS (
      UPDATE deliveries d SET status = v.status::"DeliveryStatus", provider = v.provider,
        provider_message_id = v.provider_message_id, error_code = v.error_code, error_message = v.error_message,
        sent_at = v.sent_at, delivered_at = v.delivered_at, updated_at = $33
      FROM delivery_state v WHERE d.id = v.id
    ), messages_updated AS (
      UPDATE messages m SET scheduled_count = v.scheduled, queued_count = v.queued, sent_count = v.sent,
        delivered_count = v.delivered, failed_count = v.failed, status = v.status::"MessageStatus", updated_at = $33
      FROM unnest($9::uuid[], $10::int[], $11::int[], $12::int[], $13::int[], $14::int[], $15::text[])
        AS v(id, scheduled, queued, sent, delivered, failed, status)
      WHERE m.id = v.id
    ), attempts_in AS (
      INSERT INTO delivery_attempts (delivery_id, provider, outcome, error_code, error_message, at)
      SELECT *, $33 FROM unnest($16::uuid[], $17::text[], $18::text[], $19::text[], $20::text[])
    ), input AS (
      SELECT t.*, row_number() OVER (PARTITION BY account_id ORDER BY ord) AS rank
      FROM unnest($21::uuid[], $22::uuid[], $23::uuid[], $24::text[], $25::text[], $26::text[], $27::text[], $28::text[],
        $29::text[], $30::timestamptz[], $31::timestamptz[], $32::jsonb[])
        WITH ORDINALITY AS t(account_id, message_id, delivery_id, status, message_status, provider, provider_message_id,
          error_code, error_message, sent_at, delivered_at, raw, ord)
    ), counts AS (
      SELECT account_id, count(*) AS n FROM input GROUP BY account_id
    ), blocks AS (
      -- In account order, so that concurrent writers lock the counters in the same order.
      INSERT INTO account_event_seqs (account_id, last_seq)
      SELECT account_id, n FROM counts ORDER BY account_id
      ON CONFLICT (account_id) DO UPDATE SET last_seq = account_event_seqs.last_seq + EXCLUDED.last_seq
      RETURNING account_id, last_seq
    ), events_in AS (
      INSERT INTO delivery_events (account_id, seq, message_id, delivery_id, status, message_status, provider,
        provider_message_id, error_code, error_message, sent_at, delivered_at, raw, occurred_at)
      SELECT i.account_id, b.last_seq - c.n + i.rank, i.message_id, i.delivery_id, i.status::"DeliveryStatus",
        i.message_status::"MessageStatus", i.provider, i.provider_message_id, i.error_code, i.error_message,
        i.sent_at, i.delivered_at, i.raw, $33
      FROM input i JOIN blocks b ON b.account_id = i.account_id JOIN counts c ON c.account_id = i.account_id
    )
    SELECT account_id AS "accountId", last_seq::text AS "lastSeq" FROM blocks`,
};

/**
 * Applies status changes in one transaction and publishes the resulting updates after commit.
 * A change that would not move a delivery forward is dropped (duplicate or late reports), so
 * the same report twice makes one event. Every event is numbered in its account's log; the
 * account's counter row is locked last and held until commit, so numbers follow commit order.
 */
export async function recordTransitions(
  deps: { db: Db } & Publisher,
  transitions: readonly Transition[],
  options: RecordOptions = {},
): Promise<DeliveryUpdate[]> {
  const attempts = options.attempts ?? [];
  if (transitions.length === 0 && attempts.length === 0 && !options.also) return [];
  const ids = [...new Set(transitions.map((t) => t.deliveryId))];
  const now = new Date();

  const committed = await sqlOf(deps.db).transaction(async (tx) => {
    const locked = ids.length === 0 ? [] : (await tx.query<object>(LOCK_DELIVERIES, [ids])).map(reviveLocked);
    const applied = decide(locked, transitions);
    await options.also?.(tx, applied, now);
    if (applied.length === 0 && attempts.length === 0) return null;

    const messages = applied.length === 0 ? new Map<string, LockedMessage>() : await lockMessages(tx, applied, now);
    const current = new Map(locked.map((row) => [row.id, row as Delivery]));
    const snapshots = applied.map((t) => {
      const next = stateAfter(current.get(t.deliveryId)!, t, now);
      current.set(t.deliveryId, next);
      return next;
    });
    const finals = [...new Set(applied.map((t) => t.deliveryId))].map((id) => current.get(id)!);
    const statusOf = (messageId: string) => messages.get(messageId)!.status;
    const rows = await tx.query<{ accountId: string; lastSeq: string }>(WRITE, [
      finals.map((d) => d.id),
      finals.map((d) => d.status),
      finals.map((d) => d.provider),
      finals.map((d) => d.providerMessageId),
      finals.map((d) => d.errorCode),
      finals.map((d) => d.errorMessage),
      finals.map((d) => d.sentAt),
      finals.map((d) => d.deliveredAt),
      ...messageColumns([...messages.values()]),
      attempts.map((a) => a.deliveryId),
      attempts.map((a) => a.provider),
      attempts.map((a) => a.outcome),
      attempts.map((a) => a.errorCode),
      attempts.map((a) => a.errorMessage),
      snapshots.map((d) => d.accountId),
      snapshots.map((d) => d.messageId),
      snapshots.map((d) => d.id),
      snapshots.map((d) => d.status),
      snapshots.map((d) => statusOf(d.messageId)),
      snapshots.map((d) => d.provider),
      snapshots.map((d) => d.providerMessageId),
      snapshots.map((d) => d.errorCode),
      snapshots.map((d) => d.errorMessage),
      snapshots.map((d) => d.sentAt),
      snapshots.map((d) => d.deliveredAt),
      applied.map((t) => (t.raw === undefined || t.raw === null ? null : JSON.stringify(t.raw))),
      now,
    ]);
    const lastSeqs = new Map(rows.map((row) => [row.accountId, BigInt(row.lastSeq)]));
    return { snapshots, messages, lastSeqs, locked };
  });
  if (!committed || committed.snapshots.length === 0) return [];

  const { snapshots, messages, lastSeqs, locked } = committed;
  const earlier = new Map(locked.map((row) => [row.id, row.attempts]));
  const added = new Map<string, AttemptSnapshot[]>();
  for (const a of attempts) {
    const list = added.get(a.deliveryId) ?? [];
    list.push({ provider: a.provider, at: now, outcome: a.outcome, errorCode: a.errorCode, errorMessage: a.errorMessage });
    added.set(a.deliveryId, list);
  }
  const next = firstNumbers(snapshots, lastSeqs);
  const updates = snapshots.map((delivery): DeliveryUpdate => {
    const seq = next.get(delivery.accountId)!;
    next.set(delivery.accountId, seq + 1n);
    const message = snapshotOf(messages.get(delivery.messageId)!);
    return {
      seq,
      occurredAt: now,
      messageId: delivery.messageId,
      messageStatus: message.status,
      delivery: { ...delivery, attempts: [...(earlier.get(delivery.id) ?? []), ...(added.get(delivery.id) ?? [])], message },
    };
  });
  publishUpdates(deps, updates);
  return updates;
}

function reviveLocked(row: object): Locked {
  const delivery = reviveDelivery(row) as Locked;
  delivery.attempts = (delivery.attempts as unknown as Array<AttemptSnapshot & { at: string }>).map((a) => ({ ...a, at: new Date(a.at) }));
  return delivery;
}

/** The delivery as it stands after `t` (the row is locked, so this is what gets written). */
function stateAfter(previous: Delivery, t: Transition, now: Date): Delivery {
  const at = validDate(t.at) ?? now;
  return {
    ...previous,
    status: t.status,
    provider: t.provider ?? previous.provider,
    providerMessageId: t.providerMessageId ?? previous.providerMessageId,
    errorCode: t.errorCode ?? null,
    errorMessage: t.errorMessage ?? null,
    sentAt: previous.sentAt ?? (t.status === 'SENT' ? at : null),
    deliveredAt: previous.deliveredAt ?? (t.status === 'DELIVERED' ? at : null),
    updatedAt: now,
  };
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

/** Locks the messages of the changes (in id order) and moves their counts and status along with them. */
async function lockMessages(tx: SqlTransaction, applied: AppliedTransition[], now: Date): Promise<Map<string, LockedMessage>> {
  const ids = [...new Set(applied.map((t) => t.messageId))].sort();
  const rows = await tx.query<object>(LOCK_MESSAGES, [ids]);
  const messages = new Map(rows.map((row) => reviveMessage(row) as LockedMessage).map((m) => [m.id, m]));
  for (const t of applied) {
    const message = messages.get(t.messageId)!;
    message[counterOf(t.from)] -= 1;
    message[counterOf(t.status)] += 1;
  }
  for (const message of messages.values()) {
    message.status = messageStatusOf(message, message.recipientCount);
    message.updatedAt = now;
  }
  return messages;
}

function messageColumns(messages: LockedMessage[]): unknown[][] {
  return [
    messages.map((m) => m.id),
    messages.map((m) => m.scheduled),
    messages.map((m) => m.queued),
    messages.map((m) => m.sent),
    messages.map((m) => m.delivered),
    messages.map((m) => m.failed),
    messages.map((m): MessageStatus => m.status),
  ];
}

function snapshotOf({ scheduled: _s, queued: _q, sent: _t, delivered: _d, failed: _f, ...snapshot }: LockedMessage): MessageSnapshot {
  return snapshot;
}

/** The number of each account's first event in this batch, from the block the statement took. */
function firstNumbers(snapshots: Delivery[], lastSeqs: Map<string, bigint>): Map<string, bigint> {
  const counts = new Map<string, bigint>();
  for (const d of snapshots) counts.set(d.accountId, (counts.get(d.accountId) ?? 0n) + 1n);
  return new Map([...counts].map(([accountId, n]) => [accountId, lastSeqs.get(accountId)! - n + 1n]));
}

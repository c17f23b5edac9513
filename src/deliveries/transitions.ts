import { sqlOf, type Db } from '../db/client.ts';
import type { SqlTransaction } from '../db/pg.ts';
import type { Delivery, DeliveryStatus, MessageStatus } from '../db/sql.ts';
import { isoFormatter, type IsoFormatter } from '../shared/iso-dates.ts';
import { appendEvents } from './event-log.ts';
import { publishUpdates, type Publisher } from './publish.ts';
import {
  copyDelivery,
  DELIVERY_COLUMNS,
  MESSAGE_SNAPSHOT_COLUMNS,
  reviveDelivery,
  reviveMessage,
  withSubmission,
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

/** A delivery as its caller read it, with its stored attempts: see RecordOptions.known. */
export type KnownDelivery = Delivery & { attempts: AttemptSnapshot[] };

export type RecordOptions = {
  /** Recorded in the same transaction, and carried by the updates of their deliveries. */
  attempts?: readonly AttemptRecord[];
  /**
   * The deliveries as the caller has just read them (the dispatcher, from its claim). When they
   * cover every change, they are not read and locked again: each is updated only if it is still
   * as known, and if any moved on meanwhile (a report came first) everything is done the
   * general way instead.
   */
  known?: ReadonlyMap<string, KnownDelivery>;
  /**
   * Work that must commit with the changes that apply (possibly none): it runs once they are
   * decided, before the event numbers are taken, so those are held briefly.
   */
  also?: (tx: SqlTransaction, applied: AppliedTransition[], now: Date) => Promise<void>;
};

type Locked = KnownDelivery;

class KnownStateChanged extends Error {}
type LockedMessage = MessageSnapshot & StatusCounts;

const LOCK_DELIVERIES = {
  name: 'transitions-lock-deliveries',
  text: `SELECT ${DELIVERY_COLUMNS},
      (SELECT COALESCE(json_agg(json_build_object('provider', a.provider, 'at', a.at, 'outcome', a.outcome,
        'errorCode', a.error_code, 'errorMessage', a.error_message) ORDER BY a.id), '[]'::json)
       FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.delivery_created_at = d.created_at) AS attempts
    FROM unnest($1::uuid[]) AS wanted(id)
    -- Probed one by one (in the sorted order given, which is the order they are locked in)
    -- rather than found by a scan, however small the planner believes the table to be.
    CROSS JOIN LATERAL (SELECT * FROM deliveries WHERE id = wanted.id FOR UPDATE) d`,
};

const LOCK_MESSAGES = {
  name: 'transitions-lock-messages',
  text: `SELECT ${MESSAGE_SNAPSHOT_COLUMNS}, m.scheduled_count AS scheduled, m.queued_count AS queued,
      m.sent_count AS sent, m.delivered_count AS delivered, m.failed_count AS failed, m.canceled_count AS canceled
    FROM messages m WHERE m.id = ANY($1::uuid[]) ORDER BY m.id FOR UPDATE`,
};

const DELIVERY_STATE = `json_to_recordset($1::json) AS v(id uuid, status text, provider text, "providerMessageId" text,
  "errorCode" text, "errorMessage" text, "sentAt" timestamptz, "deliveredAt" timestamptz, expected text)`;
const SET_DELIVERY_STATE = `status = v.status::"DeliveryStatus", provider = v.provider,
  provider_message_id = v."providerMessageId", error_code = v."errorCode", error_message = v."errorMessage",
  sent_at = v."sentAt", delivered_at = v."deliveredAt", updated_at = $3`;
const INSERT_ATTEMPTS = `INSERT INTO delivery_attempts (delivery_id, delivery_created_at, provider, outcome, error_code, error_message, at)
  SELECT a."deliveryId", ad.created_at, a.provider, a.outcome, a."errorCode", a."errorMessage", $3
  FROM json_to_recordset($2::json) AS a("deliveryId" uuid, provider text, outcome text, "errorCode" text, "errorMessage" text)
  JOIN deliveries ad ON ad.id = a."deliveryId"`;

/** The deliveries' new state and the attempts, for deliveries locked by this transaction. */
const WRITE_STATE = {
  name: 'transitions-write-state',
  text: `WITH attempts_in AS (${INSERT_ATTEMPTS})
    UPDATE deliveries d SET ${SET_DELIVERY_STATE} FROM ${DELIVERY_STATE} WHERE d.id = v.id`,
};

/**
 * The same for deliveries as their writer last read them: each is written only while it is
 * still in the status the writer knew; the ids written come back.
 */
const WRITE_STATE_IF_UNCHANGED = {
  name: 'transitions-write-state-if-unchanged',
  text: `WITH attempts_in AS (${INSERT_ATTEMPTS})
    UPDATE deliveries d SET ${SET_DELIVERY_STATE} FROM ${DELIVERY_STATE}
    WHERE d.id = v.id AND d.status = v.expected::"DeliveryStatus"
    RETURNING d.id`,
};

/** The messages' counts and status, their rows being locked by then (see lockMessages). */
const UPDATE_MESSAGES = {
  name: 'transitions-update-messages',
  text: `UPDATE messages m SET scheduled_count = v.scheduled, queued_count = v.queued, sent_count = v.sent,
      delivered_count = v.delivered, failed_count = v.failed, canceled_count = v.canceled, status = v.status::"MessageStatus",
      updated_at = $2
    FROM json_to_recordset($1::json) AS v(id uuid, scheduled int, queued int, sent int, delivered int, failed int, canceled int,
      status text)
    WHERE m.id = v.id`,
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
  const { known } = options;
  if (known && transitions.length > 0 && transitions.every((t) => known.has(t.deliveryId))) {
    try {
      return await record(deps, transitions, options, known);
    } catch (error) {
      if (!(error instanceof KnownStateChanged)) throw error;
    }
  }
  return record(deps, transitions, options, undefined);
}

/**
 * Like recordTransitions, for changes that can only be decided inside the transaction (the
 * deliveries whose dispatch jobs it could take from the queue): `pick` runs first in it and
 * names them; they are then locked and recorded the general way.
 */
export async function recordPickedTransitions(
  deps: { db: Db } & Publisher,
  pick: (tx: SqlTransaction) => Promise<Transition[]>,
  options: RecordOptions = {},
): Promise<DeliveryUpdate[]> {
  return record(deps, pick, options, undefined);
}

async function record(
  deps: { db: Db } & Publisher,
  wanted: readonly Transition[] | ((tx: SqlTransaction) => Promise<Transition[]>),
  options: RecordOptions,
  known: ReadonlyMap<string, KnownDelivery> | undefined,
): Promise<DeliveryUpdate[]> {
  const attempts = options.attempts ?? [];
  if (typeof wanted !== 'function' && wanted.length === 0 && attempts.length === 0 && !options.also) return [];
  const now = new Date();

  const committed = await sqlOf(deps.db).transaction(
    async (tx) => {
      const transitions = typeof wanted === 'function' ? await wanted(tx) : wanted;
      const ids = [...new Set(transitions.map((t) => t.deliveryId))].sort();
      const locked = known
        ? ids.map((id) => known.get(id)!)
        : ids.length === 0
          ? []
          : (await tx.query<object>(LOCK_DELIVERIES, [ids])).map(reviveLocked);
      const applied = decide(locked, transitions);
      const current = new Map(locked.map((row) => [row.id, row as Delivery]));
      const snapshots = applied.map((t) => {
        const next = stateAfter(current.get(t.deliveryId)!, t, now);
        current.set(t.deliveryId, next);
        return next;
      });
      const finals = [...new Set(applied.map((t) => t.deliveryId))].map((id) => current.get(id)!);
      const t = isoFormatter();
      if (known && (finals.length > 0 || attempts.length > 0)) {
        const was = new Map(locked.map((row) => [row.id, row.status]));
        const written = await tx.query(WRITE_STATE_IF_UNCHANGED, [deliveryStates(finals, t, was), JSON.stringify(attempts), now]);
        if (written.length !== finals.length) throw new KnownStateChanged();
      } else if (finals.length > 0 || attempts.length > 0) {
        await tx.query(WRITE_STATE, [deliveryStates(finals, t), JSON.stringify(attempts), now]);
      }
      await options.also?.(tx, applied, now);
      if (applied.length === 0) return null;

      const messages = await lockMessages(tx, applied, now);
      await tx.query(UPDATE_MESSAGES, [
        JSON.stringify(
          [...messages.values()].map((m) => ({
            id: m.id,
            scheduled: m.scheduled,
            queued: m.queued,
            sent: m.sent,
            delivered: m.delivered,
            failed: m.failed,
            canceled: m.canceled,
            status: m.status,
          })),
        ),
        now,
      ]);
      const seqs = await appendEvents(
        tx,
        snapshots.map((d, i) => ({
          accountId: d.accountId,
          messageId: d.messageId,
          deliveryId: d.id,
          messageStatus: messages.get(d.messageId)!.status,
          ...stateOf(d, t),
          previousStatus: applied[i]!.from,
          raw: applied[i]!.raw ?? null,
        })),
        now,
      );
      return { snapshots, messages, seqs, locked };
    },
    { byKey: true },
  );
  if (!committed || committed.snapshots.length === 0) return [];

  const { snapshots, messages, seqs, locked } = committed;
  const earlier = new Map(locked.map((row) => [row.id, row.attempts]));
  const added = new Map<string, AttemptSnapshot[]>();
  for (const a of attempts) {
    const list = added.get(a.deliveryId) ?? [];
    list.push({ provider: a.provider, at: now, outcome: a.outcome, errorCode: a.errorCode, errorMessage: a.errorMessage });
    added.set(a.deliveryId, list);
  }
  const updates = snapshots.map((delivery, i): DeliveryUpdate => {
    const message = snapshotOf(messages.get(delivery.messageId)!);
    return {
      seq: seqs[i]!,
      occurredAt: now,
      messageId: delivery.messageId,
      messageStatus: message.status,
      delivery: { ...delivery, attempts: withSubmission([...(earlier.get(delivery.id) ?? []), ...(added.get(delivery.id) ?? [])], delivery), message },
    };
  });
  publishUpdates(deps, updates);
  return updates;
}

/** What a change sets on a delivery, as the statements above take it (dates as text). */
function stateOf(d: Delivery, t: IsoFormatter) {
  return {
    status: d.status,
    provider: d.provider,
    providerMessageId: d.providerMessageId,
    errorCode: d.errorCode,
    errorMessage: d.errorMessage,
    sentAt: t.isoOrNull(d.sentAt),
    deliveredAt: t.isoOrNull(d.deliveredAt),
  };
}

/** Deliveries' new state as JSON rows, with the status each was in when `was` is given. */
function deliveryStates(deliveries: Delivery[], t: IsoFormatter, was?: Map<string, DeliveryStatus>): string {
  return JSON.stringify(deliveries.map((d) => ({ id: d.id, ...stateOf(d, t), ...(was ? { expected: was.get(d.id) } : {}) })));
}

function reviveLocked(row: object): Locked {
  const delivery = reviveDelivery(row) as Locked;
  delivery.attempts = (delivery.attempts as unknown as Array<AttemptSnapshot & { at: string }>).map((a) => ({ ...a, at: new Date(a.at) }));
  return delivery;
}

/** The delivery as it stands after `t` (the row is locked, so this is what gets written). */
function stateAfter(previous: Delivery, t: Transition, now: Date): Delivery {
  const at = validDate(t.at) ?? now;
  const next = copyDelivery(previous);
  next.status = t.status;
  next.provider = t.provider ?? previous.provider;
  next.providerMessageId = t.providerMessageId ?? previous.providerMessageId;
  next.errorCode = t.errorCode ?? null;
  next.errorMessage = t.errorMessage ?? null;
  next.sentAt = previous.sentAt ?? (t.status === 'SENT' ? at : null);
  next.deliveredAt = previous.deliveredAt ?? (t.status === 'DELIVERED' ? at : null);
  next.updatedAt = now;
  return next;
}

/** A provider's date we can store; an unreadable one counts as none. */
function validDate(date: Date | undefined): Date | undefined {
  return date && !Number.isNaN(date.getTime()) ? date : undefined;
}

/** Keeps, in order, the changes that move each delivery forward from its current status. */
function decide(locked: Locked[], transitions: readonly Transition[]): AppliedTransition[] {
  const rows = new Map(locked.map((row) => [row.id, row]));
  const status = new Map(locked.map((row) => [row.id, row.status]));
  const applied: AppliedTransition[] = [];
  for (const t of transitions) {
    const row = rows.get(t.deliveryId);
    const from = status.get(t.deliveryId);
    if (!row || !from || !canMove(from, t.status)) continue;
    if (t.onlyFrom && !t.onlyFrom.includes(from)) continue;
    applied.push({ ...t, from, messageId: row.messageId, accountId: row.accountId });
    status.set(t.deliveryId, t.status);
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

function snapshotOf({ scheduled: _s, queued: _q, sent: _t, delivered: _d, failed: _f, canceled: _c, ...snapshot }: LockedMessage): MessageSnapshot {
  return snapshot;
}

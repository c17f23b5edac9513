import { sqlOf, type Db } from '../db/client.ts';
import type { SqlTransaction } from '../db/pg.ts';
import type { Delivery, DeliveryStatus, MessageStatus } from '../db/sql.ts';
import { isoFormatter, type IsoFormatter } from '../shared/iso-dates.ts';
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
import { canMove } from './status.ts';

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

/** A delivery as its caller read it, with its message and stored attempts: see RecordOptions.known. */
export type KnownDelivery = Delivery & { attempts: AttemptSnapshot[]; message: MessageSnapshot };

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
  /**
   * Changes to the dispatch jobs `worker` holds that commit with these: the two arguments of
   * apply_job_changes in the migrations (see dispatch/jobs.ts, which makes them).
   */
  jobs?: { worker: string; leaseMs: number; changes: readonly [string, string] };
};

type Locked = KnownDelivery;

/** SQLSTATE of record_known_changes when a delivery is no longer as its writer read it. */
const KNOWN_STATE_CHANGED = 'SG001';

const LOCK_DELIVERIES = {
  name: 'transitions-lock-deliveries',
  text: `SELECT ${DELIVERY_COLUMNS},
      (SELECT COALESCE(json_agg(json_build_object('provider', a.provider, 'at', a.at, 'outcome', a.outcome,
        'errorCode', a.error_code, 'errorMessage', a.error_message) ORDER BY a.id), '[]'::json)
       FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.delivery_created_at = d.created_at) AS attempts,
      (SELECT to_jsonb(y) FROM (SELECT ${MESSAGE_SNAPSHOT_COLUMNS} FROM messages m WHERE m.id = d.message_id) y) AS message
    FROM unnest($1::uuid[]) AS wanted(id)
    -- Probed one by one (in the sorted order given, which is the order they are locked in)
    -- rather than found by a scan, however small the planner believes the table to be.
    CROSS JOIN LATERAL (SELECT * FROM deliveries WHERE id = wanted.id FOR UPDATE) d`,
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

/** Everything a dispatcher decided about deliveries it read (see record_known_changes in the migrations). */
const RECORD_KNOWN = {
  name: 'transitions-record-known',
  text: `SELECT record_known_changes($1, $2::json, $3::json, $4::json, $5::json, $6::json, $7, $8) AS result`,
};

const APPLY_JOB_CHANGES = { name: 'transitions-apply-job-changes', text: `SELECT apply_job_changes($1, $2::json, $3::json, $4)` };

/** Moves the messages along and appends the events (see finish_status_changes in the migrations). */
const FINISH = { name: 'transitions-finish', text: `SELECT finish_status_changes(status_changes($1::json), $2) AS result` };

type Finished = { statuses: Record<string, MessageStatus>; seqs: Record<string, string> };

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
  if (known && !options.also && transitions.every((t) => known.has(t.deliveryId))) {
    try {
      return await recordKnown(deps, transitions, options, known);
    } catch (error) {
      if ((error as { code?: string }).code !== KNOWN_STATE_CHANGED) throw error;
    }
  }
  return record(deps, transitions, options);
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
  return record(deps, pick, options);
}

/** What the changes make of the deliveries: the ones that apply, each delivery's state after each, and its final state. */
function apply(locked: readonly Locked[], transitions: readonly Transition[], now: Date) {
  const applied = decide(locked, transitions);
  const current = new Map<string, Delivery>(locked.map((row) => [row.id, row]));
  const snapshots = applied.map((t) => {
    const next = stateAfter(current.get(t.deliveryId)!, t, now);
    current.set(t.deliveryId, next);
    return next;
  });
  const finals = [...new Set(applied.map((t) => t.deliveryId))].map((id) => current.get(id)!);
  return { applied, snapshots, finals };
}

/** Puts the changes (one per delivery) and their snapshots in delivery id order, together. */
function sortTogether(applied: AppliedTransition[], snapshots: Delivery[]): void {
  const order = applied.map((_, i) => i).sort((a, b) => (applied[a]!.deliveryId < applied[b]!.deliveryId ? -1 : 1));
  const a = order.map((i) => applied[i]!);
  const d = order.map((i) => snapshots[i]!);
  applied.splice(0, applied.length, ...a);
  snapshots.splice(0, snapshots.length, ...d);
}

/** A status change as the SQL functions take it (the type status_change in the migrations). */
function changeOf(d: Delivery, from: DeliveryStatus, raw: unknown, t: IsoFormatter) {
  return { deliveryId: d.id, accountId: d.accountId, messageId: d.messageId, ...stateOf(d, t), from, raw: raw ?? null };
}

/** The events of the applied changes, in order. */
function eventsOf(applied: readonly AppliedTransition[], snapshots: readonly Delivery[], t: IsoFormatter): string {
  return JSON.stringify(snapshots.map((d, i) => changeOf(d, applied[i]!.from, applied[i]!.raw, t)));
}

/**
 * The dispatcher's path: it read the deliveries when it claimed them, so everything is written
 * in one round trip, each delivery only if it is still as read (otherwise nothing is, and the
 * caller goes the general way).
 */
async function recordKnown(
  deps: { db: Db } & Publisher,
  transitions: readonly Transition[],
  options: RecordOptions,
  known: ReadonlyMap<string, KnownDelivery>,
): Promise<DeliveryUpdate[]> {
  const attempts = options.attempts ?? [];
  const now = new Date();
  const ids = [...new Set(transitions.map((t) => t.deliveryId))].sort();
  const locked = ids.map((id) => known.get(id)!);
  const { applied, snapshots, finals } = apply(locked, transitions, now);
  const t = isoFormatter();
  const was = new Map(locked.map((row) => [row.id, row.status]));
  // One change per delivery, in id order (the order they are locked in): its final state, from
  // the status it was read in. They are the events too, in that order, unless a delivery moves
  // more than once.
  const once = snapshots.length === finals.length;
  if (once) sortTogether(applied, snapshots);
  finals.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const lastOf = new Map(applied.map((a) => [a.deliveryId, a]));
  const changes = JSON.stringify(finals.map((d) => changeOf(d, was.get(d.id)!, lastOf.get(d.id)?.raw, t)));
  const events = once ? null : eventsOf(applied, snapshots, t);
  const [jobChanges, newJobs] = options.jobs?.changes ?? ['[]', '[]'];
  const [row] = await sqlOf(deps.db).query<{ result: Finished }>(RECORD_KNOWN, [
    options.jobs?.worker ?? '',
    changes,
    events,
    JSON.stringify(attempts),
    jobChanges,
    newJobs,
    options.jobs?.leaseMs ?? 0,
    now,
  ]);
  return publishApplied(deps, row!.result, snapshots, locked, attempts, now);
}

async function record(
  deps: { db: Db } & Publisher,
  wanted: readonly Transition[] | ((tx: SqlTransaction) => Promise<Transition[]>),
  options: RecordOptions,
): Promise<DeliveryUpdate[]> {
  const attempts = options.attempts ?? [];
  if (typeof wanted !== 'function' && wanted.length === 0 && attempts.length === 0 && !options.also && !options.jobs) return [];
  const now = new Date();

  const committed = await sqlOf(deps.db).transaction(
    async (tx) => {
      const transitions = typeof wanted === 'function' ? await wanted(tx) : wanted;
      const ids = [...new Set(transitions.map((t) => t.deliveryId))].sort();
      const locked = ids.length === 0 ? [] : (await tx.query<object>(LOCK_DELIVERIES, [ids])).map(reviveLocked);
      const { applied, snapshots, finals } = apply(locked, transitions, now);
      const t = isoFormatter();
      if (finals.length > 0 || attempts.length > 0) {
        await tx.query(WRITE_STATE, [deliveryStates(finals, t), JSON.stringify(attempts), now]);
      }
      if (options.jobs) {
        const { worker, changes, leaseMs } = options.jobs;
        await tx.query(APPLY_JOB_CHANGES, [worker, changes[0], changes[1], leaseMs]);
      }
      await options.also?.(tx, applied, now);
      if (applied.length === 0) return null;
      const [row] = await tx.query<{ result: Finished }>(FINISH, [eventsOf(applied, snapshots, t), now]);
      return { finished: row!.result, snapshots, locked };
    },
    { byKey: true },
  );
  if (!committed) return [];
  return publishApplied(deps, committed.finished, committed.snapshots, committed.locked, attempts, now);
}

/** The updates of what was recorded, published after commit. */
function publishApplied(
  deps: Publisher,
  finished: Finished,
  snapshots: readonly Delivery[],
  locked: readonly Locked[],
  attempts: readonly AttemptRecord[],
  now: Date,
): DeliveryUpdate[] {
  if (snapshots.length === 0) return [];
  const earlier = new Map(locked.map((row) => [row.id, row]));
  const added = new Map<string, AttemptSnapshot[]>();
  for (const a of attempts) {
    const list = added.get(a.deliveryId) ?? [];
    list.push({ provider: a.provider, at: now, outcome: a.outcome, errorCode: a.errorCode, errorMessage: a.errorMessage });
    added.set(a.deliveryId, list);
  }
  const messages = new Map<string, MessageSnapshot>();
  const messageOf = (row: Locked): MessageSnapshot => {
    let message = messages.get(row.messageId);
    if (!message) {
      const status = finished.statuses[row.messageId] ?? row.message.status;
      messages.set(row.messageId, (message = { ...row.message, status, updatedAt: now }));
    }
    return message;
  };
  // Each account's numbers are the last of its block, counted back by how many it took.
  const next = new Map<string, bigint>();
  for (const d of snapshots) next.set(d.accountId, (next.get(d.accountId) ?? BigInt(finished.seqs[d.accountId]!) + 1n) - 1n);
  const updates = snapshots.map((delivery): DeliveryUpdate => {
    const row = earlier.get(delivery.id)!;
    const message = messageOf(row);
    const seq = next.get(delivery.accountId)!;
    next.set(delivery.accountId, seq + 1n);
    return {
      seq,
      occurredAt: now,
      messageId: delivery.messageId,
      messageStatus: message.status,
      delivery: { ...delivery, attempts: withSubmission([...row.attempts, ...(added.get(delivery.id) ?? [])], delivery), message },
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
  delivery.message = reviveMessage(delivery.message);
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
function decide(locked: readonly Locked[], transitions: readonly Transition[]): AppliedTransition[] {
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

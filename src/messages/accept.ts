import { newId } from '../shared/ids.ts';
import type { Caller } from '../accounts/caller.ts';
import { sqlOf, type Db } from '../db/client.ts';
import type { SqlTransaction } from '../db/pg.ts';
import type { Delivery, DeliveryStatus } from '../db/sql.ts';
import { appendEvents } from '../deliveries/event-log.ts';
import { publishUpdates, type Publisher } from '../deliveries/publish.ts';
import type { DeliveryUpdate, DeliveryWithRelations, MessageSnapshot } from '../deliveries/records.ts';
import { GatewayError } from '../shared/errors.ts';
import { GroupCommit, type Outcome } from '../shared/group-commit.ts';
import { excludeOptedOut, optedOutAmong } from '../optouts/optouts.ts';
import { Decimal } from './money.ts';
import type { RejectedRecipient } from './recipients.ts';
import type { SendPlan } from './send-plan.ts';

export type AcceptRequest = { caller: Caller; plan: SendPlan };

/** A message as accepted: what sendSms answers with, straight from what was written. */
export type AcceptedMessage = MessageSnapshot & { deliveries: DeliveryWithRelations[] };

export type Accepted = {
  messageId: string;
  rejectedRecipients: RejectedRecipient[];
  replayed: boolean;
  /** Absent for a replay (the message is read back instead). */
  message?: AcceptedMessage;
};

type Deps = { db: Db; onAccepted?: () => void } & Publisher;

/**
 * Acceptance with group commit: requests that arrive together are accepted in one
 * transaction (one lock and one debit per account, one block of event numbers per account),
 * each with its own answer and its own error.
 */
export function createAcceptQueue(deps: Deps): GroupCommit<AcceptRequest, Accepted> {
  return new GroupCommit((requests) => acceptAll(deps, requests), {
    maxInFlight: 2,
    maxItems: 500,
    maxWeight: 10_000,
    weight: (request) => request.plan.deliveries.length,
  });
}

/** Accepts one planned send on its own (the CSV import, which sends one message after another). */
export async function acceptSend(deps: Deps, caller: Caller, plan: SendPlan): Promise<Accepted> {
  const [outcome] = await acceptAll(deps, [{ caller, plan }]);
  if (!outcome!.ok) throw outcome!.error;
  return outcome!.value;
}

/**
 * Accepts a batch. A reference used twice in it goes once; the repeats are answered after it,
 * as retries are. A batch that fails for a reason no check foresaw (a lost connection, a
 * constraint) is tried again a request at a time, so that one request cannot fail the others.
 */
async function acceptAll(deps: Deps, requests: AcceptRequest[]): Promise<Array<Outcome<Accepted>>> {
  const seen = new Set<string>();
  const first: AcceptRequest[] = [];
  const repeats: AcceptRequest[] = [];
  for (const request of requests) {
    const key = request.plan.reference === null ? undefined : `${request.caller.accountId}\u0000${request.plan.reference}`;
    if (key !== undefined && seen.has(key)) repeats.push(request);
    else first.push(request);
    if (key !== undefined) seen.add(key);
  }
  const outcomes = new Map<AcceptRequest, Outcome<Accepted>>();
  await writeIsolating(deps, first, outcomes);
  for (const request of repeats) {
    await writeIsolating(deps, [request], outcomes);
  }
  return requests.map((request) => outcomes.get(request)!);
}

async function writeIsolating(deps: Deps, requests: AcceptRequest[], outcomes: Map<AcceptRequest, Outcome<Accepted>>): Promise<void> {
  if (requests.length === 0) return;
  try {
    const results = await writeBatch(deps, requests);
    requests.forEach((request, i) => outcomes.set(request, results[i]!));
  } catch (error) {
    if (requests.length === 1) {
      outcomes.set(requests[0]!, { ok: false, error });
      return;
    }
    for (const request of requests) await writeIsolating(deps, [request], outcomes);
  }
}

const LOCK_ACCOUNTS = {
  name: 'accept-lock-accounts',
  text: `SELECT id, balance::text AS balance FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
};

const FIND_REFERENCES = {
  name: 'accept-find-references',
  text: `SELECT m.account_id AS "accountId", m.reference, m.id, m.request_hash AS "requestHash", m.rejected_recipients AS "rejectedRecipients"
    FROM messages m JOIN unnest($1::uuid[], $2::text[]) AS r(account_id, reference)
      ON m.account_id = r.account_id AND m.reference = r.reference`,
};

type Taken = { accountId: string; reference: string; id: string; requestHash: string; rejectedRecipients: RejectedRecipient[] };

/**
 * One transaction: lock the batch's accounts (in id order, as every writer of balances does),
 * which also holds back any other request with the same reference until this one commits;
 * then decide each request against the balance and the references taken; then write
 * everything accepted in one statement.
 */
async function writeBatch(deps: Deps, requests: AcceptRequest[]): Promise<Array<Outcome<Accepted>>> {
  const now = new Date();
  const accountIds = [...new Set(requests.map((r) => r.caller.accountId))].sort();
  const { outcomes, accepted, seqs } = await sqlOf(deps.db).transaction(async (tx) => {
    // Before the accounts are locked: it needs no lock, and so holds theirs no longer.
    const optedOut = await optedOutAmong(tx, requests.map((r) => ({ accountId: r.caller.accountId, plan: r.plan })));
    const balances = new Map(
      (await tx.query<{ id: string; balance: string }>(LOCK_ACCOUNTS, [accountIds])).map((row) => [row.id, new Decimal(row.balance)]),
    );
    const taken = await referencesTaken(tx, requests);
    const outcomes: Array<Outcome<Accepted>> = [];
    const accepted: Array<{ request: AcceptRequest; message: AcceptedMessage }> = [];
    for (const asked of requests) {
      const { caller } = asked;
      const existing = asked.plan.reference === null ? undefined : taken.get(`${caller.accountId}\u0000${asked.plan.reference}`);
      if (existing) {
        outcomes.push(replayOf(existing, asked.plan));
        continue;
      }
      let request = asked;
      try {
        request = { caller, plan: excludeOptedOut(caller.accountId, asked.plan, optedOut) };
      } catch (error) {
        outcomes.push({ ok: false, error });
        continue;
      }
      const { plan } = request;
      const balance = balances.get(caller.accountId) ?? new Decimal(0);
      if (plan.cost.greaterThan(0) && balance.lessThan(plan.cost)) {
        outcomes.push({ ok: false, error: insufficientBalance(plan) });
        continue;
      }
      balances.set(caller.accountId, balance.minus(plan.cost));
      const message = messageOf(caller, plan, now);
      accepted.push({ request, message });
      outcomes.push({ ok: true, value: { messageId: message.id, rejectedRecipients: plan.rejected, replayed: false, message } });
    }
    const seqs = accepted.length > 0 ? await insertAccepted(tx, accepted, now) : [];
    return { outcomes, accepted, seqs };
  });
  if (accepted.length > 0) {
    publishUpdates(deps, queuedUpdates(accepted.map((a) => a.message), seqs, now));
    deps.onAccepted?.();
  }
  return outcomes;
}

async function referencesTaken(tx: SqlTransaction, requests: AcceptRequest[]): Promise<Map<string, Taken>> {
  const withReference = requests.filter((r) => r.plan.reference !== null);
  if (withReference.length === 0) return new Map();
  const rows = await tx.query<Taken>(FIND_REFERENCES, [
    withReference.map((r) => r.caller.accountId),
    withReference.map((r) => r.plan.reference),
  ]);
  return new Map(rows.map((row) => [`${row.accountId}\u0000${row.reference}`, row]));
}

function replayOf(existing: Taken, plan: SendPlan): Outcome<Accepted> {
  if (existing.requestHash !== plan.requestHash) {
    return { ok: false, error: duplicateReference(plan.reference!) };
  }
  return { ok: true, value: { messageId: existing.id, rejectedRecipients: existing.rejectedRecipients, replayed: true } };
}

function insufficientBalance(plan: SendPlan): GatewayError {
  return new GatewayError('INSUFFICIENT_BALANCE', `The balance does not cover the cost of ${plan.cost.toString()} ${plan.currency}.`, {
    cost: plan.cost.toFixed(4),
    currency: plan.currency,
  });
}

function duplicateReference(reference: string): GatewayError {
  return new GatewayError('DUPLICATE_REFERENCE', `Reference "${reference}" was already used for a different request.`);
}

function messageOf(caller: Caller, plan: SendPlan, now: Date): AcceptedMessage {
  const id = newId();
  const status: DeliveryStatus = plan.scheduledAt ? 'SCHEDULED' : 'QUEUED';
  const snapshot: MessageSnapshot = {
    id,
    accountId: caller.accountId,
    text: plan.text,
    senderId: plan.senderId,
    reference: plan.reference,
    status,
    encoding: plan.encoding,
    segments: plan.segments,
    recipientCount: plan.deliveries.length,
    cost: plan.cost,
    currency: plan.currency,
    scheduledAt: plan.scheduledAt,
    createdAt: now,
    updatedAt: now,
  };
  const deliveries = plan.deliveries.map(
    (planned): DeliveryWithRelations => ({
      id: newId(),
      messageId: id,
      accountId: caller.accountId,
      recipient: planned.recipient,
      senderId: plan.senderId,
      country: planned.country,
      body: planned.body,
      variables: planned.variables,
      segments: planned.segments,
      price: planned.price,
      status,
      route: planned.route,
      routeIndex: 0,
      provider: null,
      providerMessageId: null,
      errorCode: null,
      errorMessage: null,
      sentAt: null,
      deliveredAt: null,
      createdAt: now,
      updatedAt: now,
      attempts: [],
      message: snapshot,
    }),
  );
  return { ...snapshot, deliveries };
}

/**
 * Everything accepted, in one statement however many messages and recipients: the messages,
 * their deliveries and a dispatch job per delivery, one debit per account and a ledger entry
 * per message.
 */
const INSERT_ACCEPTED = {
  name: 'accept-insert',
  text: `
    WITH m AS (
      SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
        $9::int[], $10::int[], $11::numeric[], $12::text[], $13::text[], $14::text[], $15::timestamptz[])
        WITH ORDINALITY AS t(id, account_id, text, sender_id, reference, request_hash, status, encoding, segments,
          recipient_count, cost, currency, requested_provider, rejected_recipients, scheduled_at, ord)
    ), messages_in AS (
      INSERT INTO messages (id, account_id, text, sender_id, reference, request_hash, status, encoding, segments,
        recipient_count, cost, currency, requested_provider, rejected_recipients, scheduled_at, scheduled_count,
        queued_count, created_at, updated_at)
      SELECT id, account_id, text, sender_id, reference, request_hash, status::"MessageStatus", encoding::"SmsEncoding",
        segments, recipient_count, cost, currency, requested_provider, rejected_recipients::jsonb, scheduled_at,
        CASE WHEN status = 'SCHEDULED' THEN recipient_count ELSE 0 END,
        CASE WHEN status = 'SCHEDULED' THEN 0 ELSE recipient_count END, $17, $17
      FROM m
    ), d AS (
      SELECT t.*, m.id AS message_id, m.account_id, m.sender_id, m.status, m.scheduled_at
      FROM json_to_recordset($16::json) AS t(id uuid, "messageOrd" int, recipient text, country text, body text,
        variables jsonb, segments int, price numeric, route text[])
      JOIN m ON m.ord = t."messageOrd"
    ), deliveries_in AS (
      INSERT INTO deliveries (id, message_id, account_id, recipient, sender_id, country, body, variables, segments, price, status,
        route, created_at, updated_at)
      SELECT id, message_id, account_id, recipient, sender_id, country, body, variables, segments, price,
        status::"DeliveryStatus", route, $17, $17
      FROM d
    ), jobs_in AS (
      INSERT INTO dispatch_jobs (delivery_id, kind, run_at) SELECT id, 'SUBMIT', COALESCE(scheduled_at, $17) FROM d
    ), debits AS (
      SELECT account_id, sum(cost) AS total FROM m WHERE cost > 0 GROUP BY account_id
    ), debited AS (
      -- The CHECK constraint on accounts.balance backs the decision made before this statement.
      UPDATE accounts a SET balance = a.balance - debits.total, updated_at = $17
      FROM debits WHERE a.id = debits.account_id
      RETURNING a.id, a.balance
    )
    INSERT INTO ledger_entries (account_id, kind, amount, balance_after, message_id, note)
    SELECT m.account_id, 'DEBIT', -m.cost,
      debited.balance + COALESCE(sum(m.cost) OVER (PARTITION BY m.account_id ORDER BY m.ord
        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0),
      m.id, 'sendSms'
    FROM m JOIN debited ON debited.id = m.account_id
    WHERE m.cost > 0`,
};

async function insertAccepted(
  tx: SqlTransaction,
  accepted: Array<{ request: AcceptRequest; message: AcceptedMessage }>,
  now: Date,
): Promise<bigint[]> {
  const messages = accepted.map((a) => a.message);
  const plans = accepted.map((a) => a.request.plan);
  const deliveries: Array<{ delivery: Delivery; messageOrdinal: number }> = [];
  messages.forEach((message, i) => {
    for (const delivery of message.deliveries) deliveries.push({ delivery, messageOrdinal: i + 1 });
  });
  await tx.query(INSERT_ACCEPTED, [
    messages.map((m) => m.id),
    messages.map((m) => m.accountId),
    messages.map((m) => m.text),
    messages.map((m) => m.senderId),
    messages.map((m) => m.reference),
    plans.map((p) => p.requestHash),
    messages.map((m) => m.status),
    messages.map((m) => m.encoding),
    messages.map((m) => m.segments),
    messages.map((m) => m.recipientCount),
    messages.map((m) => m.cost.toString()),
    messages.map((m) => m.currency),
    plans.map((p) => p.requestedProvider),
    plans.map((p) => JSON.stringify(p.rejected)),
    messages.map((m) => m.scheduledAt),
    JSON.stringify(
      deliveries.map(({ delivery: d, messageOrdinal }) => ({
        id: d.id,
        messageOrd: messageOrdinal,
        recipient: d.recipient,
        country: d.country,
        body: d.body,
        variables: d.variables,
        segments: d.segments,
        price: d.price.toString(),
        route: d.route,
      })),
    ),
    now,
  ]);
  // Last, so that the account's counter row is held for nothing heavier (see appendEvents).
  return appendEvents(
    tx,
    deliveries.map(({ delivery: d, messageOrdinal }) => ({
      accountId: d.accountId,
      messageId: d.messageId,
      deliveryId: d.id,
      status: d.status,
      messageStatus: messages[messageOrdinal - 1]!.status,
    })),
    now,
  );
}

/** The first update of each accepted delivery, in the order its event was numbered. */
function queuedUpdates(messages: AcceptedMessage[], seqs: bigint[], now: Date): DeliveryUpdate[] {
  return messages.flatMap((message) => message.deliveries).map((delivery, i) => ({
    seq: seqs[i]!,
    occurredAt: now,
    messageId: delivery.messageId,
    messageStatus: delivery.message!.status,
    delivery,
  }));
}

/**
 * The message already accepted under `reference`, when `requestHash` says it was the same
 * request (a retry); DUPLICATE_REFERENCE when it was another; undefined when there is none.
 */
export async function findByReference(db: Db, caller: Caller, reference: string, requestHash: string): Promise<Accepted | undefined> {
  const [existing] = await sqlOf(db).query<Taken>(FIND_REFERENCES, [[caller.accountId], [reference]]);
  if (!existing) return undefined;
  if (existing.requestHash !== requestHash) throw duplicateReference(reference);
  return { messageId: existing.id, rejectedRecipients: existing.rejectedRecipients, replayed: true };
}

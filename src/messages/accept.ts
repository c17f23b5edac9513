import { newId } from '../shared/ids.ts';
import type { Caller } from '../accounts/caller.ts';
import { sqlOf, type Db } from '../db/client.ts';
import type { DeliveryStatus } from '../db/sql.ts';
import { publishUpdates, type Publisher } from '../deliveries/publish.ts';
import { copyDelivery, type DeliveryUpdate, type DeliveryWithRelations, type MessageSnapshot } from '../deliveries/records.ts';
import type { Job, WorkItem } from '../dispatch/jobs.ts';
import { GatewayError } from '../shared/errors.ts';
import { GroupCommit, type Outcome } from '../shared/group-commit.ts';
import { groupBy } from '../shared/group-by.ts';
import { isoFormatter } from '../shared/iso-dates.ts';
import { excludeOptedOut, optOutKey } from '../optouts/optouts.ts';
import type { StoredRouting } from '../routing/explanation.ts';
import type { RejectedRecipient } from './recipients.ts';
import type { SendPlan } from './send-plan.ts';

export type AcceptRequest = { caller: Caller; plan: SendPlan };

/** A message as accepted: what sendSms answers with, straight from what was written. */
export type AcceptedMessage = MessageSnapshot & { deliveries: AcceptedDelivery[] };

/** A delivery as accepted, with why its route's first provider was chosen (adaptive routing only). */
export type AcceptedDelivery = DeliveryWithRelations & { routing?: StoredRouting };

export type Accepted = {
  messageId: string;
  rejectedRecipients: RejectedRecipient[];
  replayed: boolean;
  /** Absent for a replay (the message is read back instead). */
  message?: AcceptedMessage;
};

/**
 * The dispatcher of this process, which takes what is accepted here straight from memory: its
 * jobs are written as held by it, and handed over once committed (see dispatch/dispatcher.ts).
 */
export type HandOver = {
  /** Whether it takes work now (it runs, and is not too far behind). */
  readonly takes: boolean;
  readonly worker: string;
  readonly leaseMs: number;
  give(items: WorkItem[]): void;
  /** Most recipients one submission to `provider` may carry. */
  submissionSize(provider: string): number;
  /**
   * Whether `provider`'s pace, more than anything, limits what reaches it (a request every few
   * seconds): its work is left in the queue, where it waits with all the rest for that provider
   * and leaves with it in as few submissions as the provider takes (see dispatch/submissions.ts).
   */
  paced(provider: string): boolean;
};

/** onAccepted: new work was queued; `paced`: some of it for a paced provider. */
type Deps = { db: Db; onAccepted?: (paced: boolean) => void; handOver?: HandOver } & Publisher;

/**
 * Acceptance with group commit: requests that arrive together are accepted in one statement
 * (one lock and one debit per account, one block of event numbers per account), each with its
 * own answer and its own error.
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

/** Deliveries of a scheduled message per job: what one dispatcher round takes at most. */
const SCHEDULED_JOB_SIZE = 1000;

/** Everything about a batch is decided and written by accept_messages (see the migrations), in one round trip. */
const ACCEPT = {
  name: 'accept-messages',
  text: `SELECT ord, outcome, message_id AS "messageId", first_seq::text AS "firstSeq", detail
    FROM accept_messages($1::json, $2::json, $3::json, $4, $5)`,
};

type AcceptRow = { ord: number; outcome: 'opted_out' | 'replay' | 'duplicate' | 'short' | 'accepted'; messageId: string | null; firstSeq: string | null; detail: unknown };

type Written = { request: AcceptRequest; message: AcceptedMessage; seqs: bigint[] };

/**
 * One statement decides each request against the references taken and the balance (the
 * accounts locked in id order, as every writer of balances does, which also holds back any
 * other request with the same reference until this one commits) and writes everything
 * accepted. A request with opted-out recipients is planned again without them and the batch
 * asked once more: the common case, no opt-out, costs one round trip.
 */
async function writeBatch(deps: Deps, asked: AcceptRequest[]): Promise<Array<Outcome<Accepted>>> {
  const now = new Date();
  const requests = [...asked];
  const outcomes: Array<Outcome<Accepted> | undefined> = new Array(requests.length);
  const sql = sqlOf(deps.db);
  let checkOptOuts = true;
  for (;;) {
    const open = requests.flatMap((request, i) => (outcomes[i] ? [] : [{ request, i }]));
    if (open.length === 0) return outcomes as Array<Outcome<Accepted>>;
    const handOver = deps.handOver?.takes ? deps.handOver : undefined;
    const heldSince = Date.now();
    const batch = batchOf(open.map((o) => o.request), now, handOver, (provider) => deps.handOver?.paced(provider) ?? false);
    const rows = await sql.query<AcceptRow>(ACCEPT, [batch.requests, batch.deliveries, batch.jobs, checkOptOuts, now]);
    const optedOut = rows.filter((row) => row.outcome === 'opted_out');
    if (optedOut.length > 0) {
      for (const row of optedOut) {
        const { request, i } = open[row.ord - 1]!;
        const out = new Set((row.detail as string[]).map((recipient) => optOutKey(request.caller.accountId, recipient)));
        try {
          requests[i] = { caller: request.caller, plan: excludeOptedOut(request.caller.accountId, request.plan, out) };
        } catch (error) {
          outcomes[i] = { ok: false, error };
        }
      }
      checkOptOuts = false;
      continue;
    }
    const written: Written[] = [];
    for (const row of rows) {
      const { request, i } = open[row.ord - 1]!;
      const message = batch.messages[row.ord - 1]!;
      if (row.outcome === 'accepted') {
        const first = BigInt(row.firstSeq!);
        written.push({ request, message, seqs: message.deliveries.map((_, k) => first + BigInt(k)) });
        outcomes[i] = { ok: true, value: { messageId: message.id, rejectedRecipients: request.plan.rejected, replayed: false, message } };
      } else if (row.outcome === 'replay') {
        outcomes[i] = { ok: true, value: { messageId: row.messageId!, rejectedRecipients: row.detail as RejectedRecipient[], replayed: true } };
      } else if (row.outcome === 'duplicate') {
        outcomes[i] = { ok: false, error: duplicateReference(request.plan.reference!) };
      } else {
        outcomes[i] = { ok: false, error: insufficientBalance(request.plan) };
      }
    }
    if (written.length > 0) {
      const updates = queuedUpdates(written, now);
      const items = handOver ? handedOver(written, batch.jobOf, heldSince) : [];
      const paced = batch.paced;
      // After the answers are written: a lone sender waits for none of this (measured at 1
      // client, about 0.2 ms of p50); the order of publishes and hand-overs is kept.
      setImmediate(() => {
        publishUpdates(deps, updates);
        if (handOver) handOver.give(items);
        deps.onAccepted?.(paced);
      });
    }
  }
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
    (planned): AcceptedDelivery => ({
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
      routing: planned.routing,
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

type Batch = {
  /** The arguments of accept_messages, as JSON. */
  requests: string;
  deliveries: string;
  jobs: string;
  /** Whether some of the work is for a paced provider (its own queue, see Dispatcher.runPaced). */
  paced: boolean;
  /** Each request's message as it will be if accepted, in order. */
  messages: AcceptedMessage[];
  /** The job each delivery goes to, for those written as held by this process's dispatcher. */
  jobOf: Map<string, Job>;
};

/**
 * The batch as accept_messages takes it. Each delivery goes to a job: the deliveries due now,
 * by provider and sender, as many as one submission to that provider carries (a job is one
 * submission, its id the submission's reference); a scheduled message's, by the thousand, due
 * at its time. The jobs due now are held by this process's dispatcher when it takes them.
 */
function batchOf(requests: AcceptRequest[], now: Date, handOver: HandOver | undefined, pacedOf: (provider: string) => boolean): Batch {
  const t = isoFormatter();
  const messages = requests.map((r) => messageOf(r.caller, r.plan, now));
  const jobOf = new Map<string, Job>();
  const jobs: Array<{ id: string; runAt: string; leasedBy: string | null; leaseMs: number; pacedProvider: string | null }> = [];
  const jobIdOf = new Map<string, string>();
  let paced = false;
  const addJob = (deliveries: DeliveryWithRelations[], runAt: Date, leased: boolean, pacedProvider: string | null = null) => {
    const job: Job = { id: newId(), kind: 'SUBMIT', attempt: 1, unconfirmedSince: null, heldSince: 0, size: deliveries.length };
    jobs.push({ id: job.id, runAt: t.iso(runAt), leasedBy: leased ? handOver!.worker : null, leaseMs: handOver?.leaseMs ?? 0, pacedProvider });
    if (pacedProvider) paced = true;
    for (const d of deliveries) {
      jobIdOf.set(d.id, job.id);
      if (leased) jobOf.set(d.id, job);
    }
  };
  const dueNow: DeliveryWithRelations[] = [];
  for (const message of messages) {
    if (!message.scheduledAt) {
      dueNow.push(...message.deliveries);
      continue;
    }
    for (let i = 0; i < message.deliveries.length; i += SCHEDULED_JOB_SIZE) {
      addJob(message.deliveries.slice(i, i + SCHEDULED_JOB_SIZE), message.scheduledAt, false);
    }
  }
  for (const [key, group] of groupBy(dueNow, (d) => `${d.route[0] ?? ''}\u0000${d.senderId}`)) {
    const provider = key.slice(0, key.indexOf('\u0000'));
    const size = handOver?.submissionSize(provider) ?? SCHEDULED_JOB_SIZE;
    const pacedProvider = pacedOf(provider) ? provider : null;
    const held = handOver !== undefined && !pacedProvider;
    for (let i = 0; i < group.length; i += size) addJob(group.slice(i, i + size), now, held, pacedProvider);
  }
  return {
    requests: JSON.stringify(
      requests.map(({ plan }, i) => {
        const m = messages[i]!;
        return {
          ord: i + 1,
          id: m.id,
          accountId: m.accountId,
          text: m.text,
          senderId: m.senderId,
          reference: m.reference,
          requestHash: plan.requestHash,
          status: m.status,
          encoding: m.encoding,
          segments: m.segments,
          recipientCount: m.recipientCount,
          cost: m.cost.toString(),
          currency: m.currency,
          requestedProvider: plan.requestedProvider,
          rejected: plan.rejected,
          scheduledAt: m.scheduledAt ? t.iso(m.scheduledAt) : null,
        };
      }),
    ),
    deliveries: JSON.stringify(
      messages.flatMap((m, i) =>
        m.deliveries.map((d, idx) => ({
          id: d.id,
          ord: i + 1,
          idx,
          recipient: d.recipient,
          country: d.country,
          body: d.body,
          variables: d.variables,
          segments: d.segments,
          price: d.price.toString(),
          route: d.route,
          job: jobIdOf.get(d.id)!,
          routing: d.routing,
        })),
      ),
    ),
    jobs: JSON.stringify(jobs),
    paced,
    messages,
    jobOf,
  };
}

/** The first update of each accepted delivery, in the order its event was numbered. */
function queuedUpdates(written: Written[], now: Date): DeliveryUpdate[] {
  return written.flatMap(({ message, seqs }) =>
    message.deliveries.map((delivery, i) => ({
      seq: seqs[i]!,
      occurredAt: now,
      messageId: delivery.messageId,
      messageStatus: message.status,
      delivery,
    })),
  );
}

/** What the dispatcher of this process is handed: the deliveries due now, each with the job that holds it. */
function handedOver(written: Written[], jobOf: Map<string, Job>, heldSince: number): WorkItem[] {
  const items: WorkItem[] = [];
  for (const { message } of written) {
    for (const delivery of message.deliveries) {
      const job = jobOf.get(delivery.id);
      if (job) job.size = 0;
    }
  }
  for (const { message } of written) {
    for (const delivery of message.deliveries) {
      const job = jobOf.get(delivery.id);
      if (!job) continue;
      // What the job holds: the deliveries of the requests accepted.
      job.size += 1;
      job.heldSince = heldSince;
      items.push(
        Object.assign(copyDelivery(delivery), {
          text: delivery.body ?? message.text,
          template: message.text,
          senderId: message.senderId,
          message: delivery.message!,
          hasAttempts: false,
          job,
        }),
      );
    }
  }
  return items;
}

const FIND_REFERENCES = {
  name: 'accept-find-references',
  text: `SELECT m.id, m.request_hash AS "requestHash", m.rejected_recipients AS "rejectedRecipients"
    FROM messages m WHERE m.account_id = $1 AND m.reference = $2`,
};

type Taken = { id: string; requestHash: string; rejectedRecipients: RejectedRecipient[] };

/**
 * The message already accepted under `reference`, when `requestHash` says it was the same
 * request (a retry); DUPLICATE_REFERENCE when it was another; undefined when there is none.
 */
export async function findByReference(db: Db, caller: Caller, reference: string, requestHash: string): Promise<Accepted | undefined> {
  const [existing] = await sqlOf(db).query<Taken>(FIND_REFERENCES, [caller.accountId, reference]);
  if (!existing) return undefined;
  if (existing.requestHash !== requestHash) throw duplicateReference(reference);
  return { messageId: existing.id, rejectedRecipients: existing.rejectedRecipients, replayed: true };
}

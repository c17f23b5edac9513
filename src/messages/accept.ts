import { v7 as uuidv7 } from 'uuid';
import type { Caller } from '../accounts/auth.ts';
import type { Db } from '../db/client.ts';
import type { Delivery, DeliveryStatus, TransactionClient } from '../db/sql.ts';
import { appendEvents, eventOf } from '../deliveries/event-log.ts';
import { publishUpdates, type Publisher } from '../deliveries/publish.ts';
import type { DeliveryUpdate, MessageSnapshot } from '../deliveries/records.ts';
import { GatewayError } from '../graphql/errors.ts';
import type { RejectedRecipient } from './recipients.ts';
import type { SendPlan } from './send-plan.ts';

export type Accepted = { messageId: string; rejectedRecipients: RejectedRecipient[]; replayed: boolean };

class ReferenceTaken extends Error {}

/**
 * Accepts a planned send in one transaction: the message, its deliveries, the debit, the
 * dispatch jobs and the first event of each delivery. After commit the dispatcher takes over
 * from the jobs, so a crash at any point loses nothing and charges nothing twice.
 */
export async function acceptSend(
  deps: { db: Db; onAccepted?: () => void } & Publisher,
  caller: Caller,
  plan: SendPlan,
): Promise<Accepted> {
  const messageId = uuidv7();
  const now = new Date();
  const status: DeliveryStatus = plan.scheduledAt ? 'SCHEDULED' : 'QUEUED';
  const message = snapshotOf(caller, plan, messageId, status, now);
  const deliveries: Delivery[] = plan.deliveries.map((planned) => ({
    id: uuidv7(),
    messageId,
    accountId: caller.accountId,
    recipient: planned.recipient,
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
  }));

  let updates: DeliveryUpdate[];
  try {
    updates = await deps.db.$transaction(
      async (tx) => {
        await insertMessage(tx, caller, plan, message, deliveries);
        // The account's rows are locked from here to commit: the debit, then the event numbers.
        if (plan.cost.greaterThan(0)) await debit(tx, caller.accountId, plan, messageId);
        const seqs = await appendEvents(tx, deliveries.map((d) => eventOf(d, message.status)), now);
        return deliveries.map((delivery, i) => ({
          seq: seqs[i]!,
          occurredAt: now,
          messageId,
          messageStatus: message.status,
          delivery: { ...delivery, attempts: [], message },
        }));
      },
      { timeout: 60_000 },
    );
  } catch (error) {
    if (error instanceof ReferenceTaken) {
      const replay = await findByReference(deps.db, caller, plan.reference!, plan.requestHash);
      if (replay) return replay;
      // The request holding the reference rolled back after all: ours may take it now.
      return acceptSend(deps, caller, plan);
    }
    throw error;
  }
  publishUpdates(deps, updates);
  deps.onAccepted?.();
  return { messageId, rejectedRecipients: plan.rejected, replayed: false };
}

/**
 * The message, its deliveries and their dispatch jobs, in one statement however many
 * recipients there are. With a reference, a concurrent request with the same one waits here
 * for the first to commit or roll back, then finds it taken (or takes its place).
 */
async function insertMessage(
  tx: TransactionClient,
  caller: Caller,
  plan: SendPlan,
  message: MessageSnapshot,
  rows: Delivery[],
) {
  const counts = { scheduled: 0, queued: 0, sent: 0, delivered: 0, failed: 0 };
  counts[message.status === 'SCHEDULED' ? 'scheduled' : 'queued'] = rows.length;
  const [result] = await tx.$queryRaw<Array<{ inserted: number }>>`
    WITH message AS (
      INSERT INTO messages (id, account_id, text, sender_id, reference, request_hash, status, encoding, segments,
        recipient_count, cost, currency, requested_provider, rejected_recipients, scheduled_at, scheduled_count,
        queued_count, created_at, updated_at)
      VALUES (${message.id}::uuid, ${caller.accountId}::uuid, ${plan.text}, ${plan.senderId}, ${plan.reference},
        ${plan.requestHash}, ${message.status}::"MessageStatus", ${plan.encoding}::"SmsEncoding", ${plan.segments},
        ${rows.length}, ${plan.cost.toString()}::numeric, ${plan.currency}, ${plan.requestedProvider},
        ${JSON.stringify(plan.rejected)}::jsonb, ${plan.scheduledAt}::timestamptz, ${counts.scheduled}, ${counts.queued},
        ${message.createdAt}::timestamptz, ${message.createdAt}::timestamptz)
      ON CONFLICT (account_id, reference) DO NOTHING
      RETURNING id
    ), delivery AS (
      INSERT INTO deliveries (id, message_id, account_id, recipient, country, body, variables, segments, price, status,
        route, created_at, updated_at)
      SELECT t.id, ${message.id}::uuid, ${caller.accountId}::uuid, t.recipient, t.country, t.body, t.variables, t.segments,
        t.price, ${message.status === 'SCHEDULED' ? 'SCHEDULED' : 'QUEUED'}::"DeliveryStatus",
        -- Routes are ragged text[][]; they travel as JSON and become text[] per row.
        ARRAY(SELECT jsonb_array_elements_text(t.route)), ${message.createdAt}::timestamptz, ${message.createdAt}::timestamptz
      FROM unnest(${rows.map((d) => d.id)}::uuid[], ${rows.map((d) => d.recipient)}::text[], ${rows.map((d) => d.country)}::text[],
        ${rows.map((d) => d.body)}::text[], ${rows.map((d) => (d.variables ? JSON.stringify(d.variables) : null))}::jsonb[],
        ${rows.map((d) => d.segments)}::int[], ${rows.map((d) => d.price.toString())}::numeric[],
        ${rows.map((d) => JSON.stringify(d.route))}::jsonb[]
      ) AS t(id, recipient, country, body, variables, segments, price, route)
      WHERE EXISTS (SELECT 1 FROM message)
      RETURNING id
    ), job AS (
      INSERT INTO dispatch_jobs (delivery_id, kind, run_at)
      SELECT id, 'SUBMIT', ${plan.scheduledAt ?? message.createdAt}::timestamptz FROM delivery
    )
    SELECT count(*)::int AS inserted FROM message`;
  if (!result || result.inserted === 0) throw new ReferenceTaken();
}

async function debit(tx: TransactionClient, accountId: string, plan: SendPlan, messageId: string) {
  const cost = plan.cost.toString();
  // The WHERE clause and the CHECK constraint on accounts.balance both keep it from going negative.
  const rows = await tx.$queryRaw<Array<{ balance: string }>>`
    WITH debited AS (
      UPDATE accounts SET balance = balance - ${cost}::numeric, updated_at = now()
      WHERE id = ${accountId}::uuid AND balance >= ${cost}::numeric
      RETURNING id, balance
    )
    INSERT INTO ledger_entries (account_id, kind, amount, balance_after, message_id, note)
    SELECT id, 'DEBIT', -${cost}::numeric, balance, ${messageId}::uuid, 'sendSms' FROM debited
    RETURNING balance_after::text AS balance`;
  if (rows.length === 0) {
    throw new GatewayError('INSUFFICIENT_BALANCE', `The balance does not cover the cost of ${cost} ${plan.currency}.`, {
      cost: plan.cost.toFixed(4),
      currency: plan.currency,
    });
  }
}

function snapshotOf(caller: Caller, plan: SendPlan, id: string, status: DeliveryStatus, now: Date): MessageSnapshot {
  return {
    id,
    accountId: caller.accountId,
    text: plan.text,
    senderId: plan.senderId,
    reference: plan.reference,
    status: status === 'SCHEDULED' ? 'SCHEDULED' : 'QUEUED',
    encoding: plan.encoding,
    segments: plan.segments,
    recipientCount: plan.deliveries.length,
    cost: plan.cost,
    currency: plan.currency,
    scheduledAt: plan.scheduledAt,
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * The message already accepted under `reference`, when `requestHash` says it was the same
 * request (a retry); DUPLICATE_REFERENCE when it was another; undefined when there is none.
 */
export async function findByReference(db: Db, caller: Caller, reference: string, requestHash: string): Promise<Accepted | undefined> {
  const existing = await db.message.findUnique({
    where: { accountId_reference: { accountId: caller.accountId, reference } },
    select: { id: true, requestHash: true, rejectedRecipients: true },
  });
  if (!existing) return undefined;
  if (existing.requestHash !== requestHash) {
    throw new GatewayError('DUPLICATE_REFERENCE', `Reference "${reference}" was already used for a different request.`);
  }
  return {
    messageId: existing.id,
    rejectedRecipients: existing.rejectedRecipients as RejectedRecipient[],
    replayed: true,
  };
}

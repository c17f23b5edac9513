import { sqlOf, type Db } from '../db/client.ts';
import type { Sql } from '../db/pg.ts';
import { GatewayError } from '../shared/errors.ts';
import { Decimal } from '../messages/money.ts';
import { normaliseNumber } from '../messages/recipients.ts';
import type { SendPlan } from '../messages/send-plan.ts';

export type OptOutRow = { recipient: string; createdAt: Date };

/** Numbers per addOptOuts, removeOptOuts or insert of an import: as many as one sendSms takes. */
export const MAX_OPT_OUTS_PER_CALL = 10_000;

/**
 * The (account, number) pairs that are opted out, among those given (the recipients of a batch
 * of requests): one query for the batch. Each account's numbers go as one slice of $2 and are
 * looked up on the list's primary key (account, number): never a scan of the whole list, which
 * holds every account's numbers.
 */
const AMONG = {
  name: 'optouts-among',
  text: `SELECT a.account_id AS "accountId", o.recipient
    FROM unnest($1::uuid[], $3::int[], $4::int[]) AS a(account_id, first, last)
    CROSS JOIN LATERAL (
      SELECT recipient FROM opt_outs WHERE account_id = a.account_id AND recipient = ANY(($2::text[])[a.first:a.last])
      OFFSET 0
    ) o`,
};

export const optOutKey = (accountId: string, recipient: string) => `${accountId}\u0000${recipient}`;

/** Which recipients of these plans are opted out, as optOutKey pairs. */
export async function optedOutAmong(sql: Pick<Sql, 'query'>, plans: ReadonlyArray<{ accountId: string; plan: SendPlan }>): Promise<Set<string>> {
  const byAccount = new Map<string, string[]>();
  for (const { accountId, plan } of plans) {
    let numbers = byAccount.get(accountId);
    if (!numbers) byAccount.set(accountId, (numbers = []));
    for (const d of plan.deliveries) numbers.push(d.recipient);
  }
  const recipients: string[] = [];
  const firsts: number[] = [];
  const lasts: number[] = [];
  for (const numbers of byAccount.values()) {
    firsts.push(recipients.length + 1);
    for (const n of numbers) recipients.push(n);
    lasts.push(recipients.length);
  }
  if (recipients.length === 0) return new Set();
  const rows = await sql.query<{ accountId: string; recipient: string }>(AMONG, [[...byAccount.keys()], recipients, firsts, lasts]);
  return new Set(rows.map((row) => optOutKey(row.accountId, row.recipient)));
}

/**
 * The plan without the recipients the account has opted out, who are rejected with OPTED_OUT
 * and cost nothing; NO_VALID_RECIPIENTS when none is left.
 */
export function excludeOptedOut(accountId: string, plan: SendPlan, optedOut: ReadonlySet<string>): SendPlan {
  if (optedOut.size === 0) return plan;
  const isOut = (recipient: string) => optedOut.has(optOutKey(accountId, recipient));
  const out = plan.deliveries.filter((d) => isOut(d.recipient));
  if (out.length === 0) return plan;
  const deliveries = plan.deliveries.filter((d) => !isOut(d.recipient));
  const rejected = [
    ...plan.rejected,
    ...out.map((d) => ({ input: d.recipient, code: 'OPTED_OUT', reason: 'the recipient opted out of messages from this account' })),
  ];
  if (deliveries.length === 0) {
    throw new GatewayError('NO_VALID_RECIPIENTS', 'None of the recipients can be sent to.', { rejectedRecipients: rejected });
  }
  return {
    ...plan,
    deliveries,
    rejected,
    // Each delivery's price is its segments at its country's price: the cost is their sum.
    cost: deliveries.reduce((sum, d) => sum.plus(d.price), new Decimal(0)),
    segments: Math.max(...deliveries.map((d) => d.segments)),
  };
}

/** excludeOptedOut for one plan on its own (smsQuote). */
export async function withoutOptedOut(db: Db, accountId: string, plan: SendPlan): Promise<SendPlan> {
  return excludeOptedOut(accountId, plan, await optedOutAmong(sqlOf(db), [{ accountId, plan }]));
}

/** Numbers read as sendSms reads them; INVALID_PHONE_FORMAT (and nothing changed) for one that is not a mobile number. */
export function readNumbers(inputs: readonly string[], defaultCountry: string): string[] {
  if (inputs.length > MAX_OPT_OUTS_PER_CALL) {
    throw new GatewayError('BAD_USER_INPUT', `recipients: at most ${MAX_OPT_OUTS_PER_CALL} per call`);
  }
  const numbers = new Set<string>();
  for (const input of inputs) {
    const number = normaliseNumber(input, defaultCountry);
    if (!number.ok) throw new GatewayError('INVALID_PHONE_FORMAT', `"${input}": ${number.reason}`, { input });
    numbers.add(number.e164);
  }
  return [...numbers];
}

/** Adds numbers (E.164) to the account's list; returns them as listed, with when each was first added. */
export async function addOptOuts(db: Db, accountId: string, numbers: string[]): Promise<OptOutRow[]> {
  if (numbers.length === 0) return [];
  return sqlOf(db).query<OptOutRow>(
    {
      name: 'optouts-add',
      text: `WITH added AS (
          INSERT INTO opt_outs (account_id, recipient) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING
          RETURNING recipient, created_at
        )
        SELECT recipient, created_at AS "createdAt" FROM added
        UNION ALL
        SELECT recipient, created_at FROM opt_outs WHERE account_id = $1 AND recipient = ANY($2::text[])
        ORDER BY recipient`,
    },
    [accountId, numbers],
  );
}

export async function removeOptOuts(db: Db, accountId: string, numbers: string[]): Promise<number> {
  if (numbers.length === 0) return 0;
  const rows = await sqlOf(db).query(
    { name: 'optouts-remove', text: `DELETE FROM opt_outs WHERE account_id = $1 AND recipient = ANY($2::text[]) RETURNING 1 AS one` },
    [accountId, numbers],
  );
  return rows.length;
}

/**
 * Imports a list from another system (`cli optouts import`): numbers read as sendSms reads them,
 * unreadable ones counted and skipped, the rest added a statement per 10,000.
 */
export async function importOptOuts(db: Db, accountId: string, inputs: readonly string[], defaultCountry: string) {
  const numbers = new Set<string>();
  let rejected = 0;
  for (const input of inputs) {
    const number = normaliseNumber(input, defaultCountry);
    if (number.ok) numbers.add(number.e164);
    else rejected += 1;
  }
  const all = [...numbers];
  let imported = 0;
  for (let i = 0; i < all.length; i += MAX_OPT_OUTS_PER_CALL) {
    const rows = await sqlOf(db).query(
      {
        name: 'optouts-import',
        text: `INSERT INTO opt_outs (account_id, recipient) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING 1 AS one`,
      },
      [accountId, all.slice(i, i + MAX_OPT_OUTS_PER_CALL)],
    );
    imported += rows.length;
  }
  return { accountId, imported, alreadyListed: all.length - imported, rejected };
}

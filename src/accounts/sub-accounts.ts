import { sqlOf, type Db } from '../db/client.ts';
import { GatewayError } from '../shared/errors.ts';
import { Decimal, formatMoney } from '../messages/money.ts';
import { supportsCurrency, type PriceTable } from '../messages/pricing.ts';
import { newId } from '../shared/ids.ts';
import { readAmount } from './accounts.ts';
import { keyCacheOf } from './key-cache.ts';

/**
 * Sub-accounts: accounts a reseller makes for its own customers, one level deep (a sub-account
 * has none of its own). Each has its own balance, currency and prices, pays for its own sends,
 * and is credited and debited by its parent through transfers.
 */

export type NewSubAccount = {
  name: string;
  currency?: string | null;
  prices?: ReadonlyArray<{ country: string; pricePerSegment: string }> | null;
};

const PRICE_DESTINATION = /^([A-Z]{2}|default)$/;

export async function createSubAccount(db: Db, parentId: string, input: NewSubAccount, priceTable: PriceTable): Promise<string> {
  const parent = await db.account.findUniqueOrThrow({ where: { id: parentId }, select: { parentId: true, currency: true, isTest: true } });
  if (parent.parentId) {
    throw new GatewayError('INSUFFICIENT_PERMISSIONS', 'Sub-accounts are one level deep: a sub-account cannot have its own.');
  }
  const name = input.name.trim();
  if (!name || name.length > 200) throw new GatewayError('BAD_USER_INPUT', 'name: 1 to 200 characters.', { argument: 'name' });
  const currency = (input.currency ?? parent.currency).toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) {
    throw new GatewayError('BAD_USER_INPUT', `currency: "${input.currency}" is not an ISO 4217 code.`, { argument: 'currency' });
  }
  const prices = priceTableOf(input.prices ?? []);
  if (!supportsCurrency(priceTable, currency) && prices?.default === undefined) {
    throw new GatewayError('BAD_USER_INPUT', `The gateway has no prices in ${currency}: give the sub-account a "default" price.`, {
      argument: 'prices',
    });
  }
  const id = newId();
  await db.account.create({
    data: { id, name, currency, isTest: parent.isTest, parentId, ...(prices ? { prices } : {}) },
  });
  return id;
}

/** Prices by destination (an ISO 3166 alpha-2 code, or "default" for the others), as stored; null for none. */
function priceTableOf(list: ReadonlyArray<{ country: string; pricePerSegment: string }>): Record<string, string> | null {
  if (list.length === 0) return null;
  const table: Record<string, string> = {};
  for (const { country, pricePerSegment } of list) {
    const destination = country === 'default' ? country : country.toUpperCase();
    if (!PRICE_DESTINATION.test(destination)) {
      throw new GatewayError('BAD_USER_INPUT', `prices: "${country}" is not an ISO 3166 alpha-2 country code (or "default").`, { argument: 'prices' });
    }
    if (table[destination] !== undefined) {
      throw new GatewayError('BAD_USER_INPUT', `prices: ${destination} is priced twice.`, { argument: 'prices' });
    }
    const price = readAmount(pricePerSegment);
    if (!price || price.isNegative()) {
      throw new GatewayError('INVALID_AMOUNT', `prices: "${pricePerSegment}" is not a price (a decimal of at least 0, at most 4 places).`, {
        argument: 'prices',
      });
    }
    table[destination] = price.toFixed(4);
  }
  return table;
}

type Locked = { id: string; parentId: string | null; balance: string; currency: string; suspended: boolean };

// In id order, as every writer of balances locks them (messages/accept.ts, dispatch/refunds.ts):
// a transfer and the sends of either account queue behind each other, never deadlock.
const LOCK_PAIR = {
  name: 'transfer-lock',
  text: `SELECT id, parent_id AS "parentId", balance::text AS balance, currency, suspended_at IS NOT NULL AS suspended
    FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
};

// Both balances and both ledger entries in one statement; the CHECK on accounts.balance backs
// the decision taken under the locks.
const MOVE = {
  name: 'transfer-move',
  text: `
    WITH moves AS (
      SELECT * FROM unnest($1::uuid[], $2::numeric[], $3::uuid[], $4::text[]) AS t(account_id, amount, counterpart, kind)
    ), moved AS (
      UPDATE accounts a SET balance = a.balance + m.amount, updated_at = now()
      FROM moves m WHERE a.id = m.account_id
      RETURNING a.id, a.balance
    )
    INSERT INTO ledger_entries (account_id, kind, amount, balance_after, counterpart_account_id, note)
    SELECT m.account_id, m.kind::"LedgerKind", m.amount, moved.balance, m.counterpart, 'transferCredit'
    FROM moves m JOIN moved ON moved.id = m.account_id`,
};

export type Transfer = {
  parentId: string;
  childId: string;
  /** In the parent's currency; positive: parent to child (a recharge), negative: child to parent. */
  amount: string;
  /** Units of the child's currency per unit of the parent's; needed when they differ. */
  exchangeRate?: string | null;
};

/**
 * Moves credit between a parent and its sub-account, both ways, in one transaction that holds
 * both balances: never below zero on either side, however many transfers and sends run at once.
 * A suspended sub-account is not recharged; what it holds can still be taken back.
 */
export async function transferCredit(db: Db, transfer: Transfer): Promise<void> {
  const amount = readAmount(transfer.amount);
  if (!amount || amount.isZero()) {
    throw new GatewayError('INVALID_AMOUNT', `"${transfer.amount}" is not an amount to transfer (a non-zero decimal, at most 4 places).`, {
      argument: 'amount',
    });
  }
  const { parentId, childId } = transfer;
  await sqlOf(db).transaction(async (tx) => {
    const locked = await tx.query<Locked>(LOCK_PAIR, [[parentId, childId]]);
    const parent = locked.find((a) => a.id === parentId)!;
    const child = locked.find((a) => a.id === childId && a.parentId === parentId);
    if (!child) throw new GatewayError('ACCOUNT_NOT_FOUND', 'No sub-account of yours has this id.', { argument: 'accountId' });
    if (child.suspended && amount.isPositive()) {
      throw new GatewayError('ACCOUNT_SUSPENDED', 'This sub-account is suspended: lift the suspension before recharging it.');
    }
    const childAmount = converted(amount, parent.currency, child.currency, transfer.exchangeRate);
    const [payer, cost] = amount.isPositive() ? [parent, amount] : [child, childAmount.negated()];
    if (new Decimal(payer.balance).lessThan(cost)) {
      throw new GatewayError('INSUFFICIENT_BALANCE', `The ${payer === parent ? 'parent' : 'sub-account'} holds ${formatMoney(payer.balance)} ${payer.currency}, less than ${formatMoney(cost)}.`, {
        balance: formatMoney(payer.balance),
        amount: formatMoney(cost),
        currency: payer.currency,
      });
    }
    const [parentKind, childKind] = amount.isPositive() ? ['TRANSFER_OUT', 'TRANSFER_IN'] : ['TRANSFER_IN', 'TRANSFER_OUT'];
    await tx.query(MOVE, [
      [parentId, childId],
      [amount.negated().toString(), childAmount.toString()],
      [childId, parentId],
      [parentKind, childKind],
    ]);
  });
}

/** The child's side of a transfer of `amount` in the parent's currency: rounded towards zero to 4 places. */
function converted(amount: Decimal, parentCurrency: string, childCurrency: string, rateText: string | null | undefined): Decimal {
  if (parentCurrency === childCurrency) {
    if (rateText != null && !new Decimal(readRate(rateText)).equals(1)) {
      throw new GatewayError('BAD_USER_INPUT', `exchangeRate: both accounts hold ${childCurrency}.`, { argument: 'exchangeRate' });
    }
    return amount;
  }
  if (rateText == null) {
    throw new GatewayError('BAD_USER_INPUT', `The sub-account holds ${childCurrency}, not ${parentCurrency}: give the exchangeRate (${childCurrency} per ${parentCurrency}).`, {
      argument: 'exchangeRate',
    });
  }
  const childAmount = amount.times(readRate(rateText)).toDecimalPlaces(4, Decimal.ROUND_DOWN);
  if (childAmount.isZero()) throw new GatewayError('INVALID_AMOUNT', 'The amount comes to nothing in the sub-account\'s currency.', { argument: 'amount' });
  return childAmount;
}

function readRate(text: string): Decimal {
  if (!/^\d{1,12}(\.\d{1,10})?$/.test(text.trim()) || new Decimal(text.trim()).isZero()) {
    throw new GatewayError('BAD_USER_INPUT', `exchangeRate: "${text}" is not a positive decimal.`, { argument: 'exchangeRate' });
  }
  return new Decimal(text.trim());
}

const SET_SUSPENDED = {
  name: 'sub-accounts-suspend',
  text: `UPDATE accounts SET suspended_at = CASE WHEN $3 THEN COALESCE(suspended_at, now()) END, updated_at = now()
    WHERE id = $1 AND parent_id = $2 RETURNING id`,
};

/** Suspends a sub-account (its keys and tokens stop on every instance as this commits), or lifts it. */
export async function setSuspended(db: Db, parentId: string, childId: string, suspended: boolean): Promise<void> {
  const [updated] = await sqlOf(db).query(SET_SUSPENDED, [childId, parentId, suspended]);
  if (!updated) throw new GatewayError('ACCOUNT_NOT_FOUND', 'No sub-account of yours has this id.', { argument: 'id' });
  // Other processes hear of it from the database (key-cache.ts); this one knows now.
  if (suspended) keyCacheOf(db).suspended(childId);
}

export type MonthlyUsage = { since: Date; messages: number; recipients: number; spend: Decimal };

const USAGE = {
  name: 'sub-accounts-usage',
  text: `SELECT a.id AS "accountId", sent.messages, sent.recipients, spent.spend
    FROM unnest($1::uuid[]) AS a(id)
    CROSS JOIN LATERAL (SELECT count(*)::int AS messages, COALESCE(sum(m.recipient_count), 0)::int AS recipients
      FROM messages m WHERE m.account_id = a.id AND m.created_at >= $2) sent
    CROSS JOIN LATERAL (SELECT COALESCE(-sum(l.amount), 0)::text AS spend
      FROM ledger_entries l WHERE l.account_id = a.id AND l.created_at >= $2 AND l.message_id IS NOT NULL) spent`,
};

/** The first instant of the current calendar month, in UTC. */
export function startOfMonth(now = new Date()): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

/** What each account sent since the start of the month, and what its sends cost net of refunds. */
export async function monthlyUsage(db: Db, accountIds: readonly string[]): Promise<Map<string, MonthlyUsage>> {
  const since = startOfMonth();
  const rows = await sqlOf(db).query<{ accountId: string; messages: number; recipients: number; spend: string }>(USAGE, [accountIds, since]);
  return new Map(rows.map((row) => [row.accountId, { since, messages: row.messages, recipients: row.recipients, spend: new Decimal(row.spend) }]));
}

import { newId } from '../shared/ids.ts';
import type { Db } from '../db/client.ts';
import { Decimal, formatMoney } from '../messages/money.ts';
import { generateApiKey, SCOPES, type Scope } from './api-keys.ts';
import { keyCacheOf } from './key-cache.ts';

export class AccountError extends Error {}

export type CreatedAccount = { accountId: string; apiKey: string; apiKeyId: string };

export async function createAccount(
  db: Db,
  input: { name: string; credit?: string; currency: string; test?: boolean },
): Promise<CreatedAccount> {
  const name = input.name.trim();
  if (!name) throw new AccountError('an account needs a name');
  if (!/^[A-Z]{3}$/.test(input.currency)) throw new AccountError(`"${input.currency}" is not an ISO 4217 currency code`);
  const credit = parseAmount(input.credit ?? '0');
  if (credit.isNegative()) throw new AccountError('the opening credit cannot be negative');

  const accountId = newId();
  const key = generateApiKey(input.test ? 'test' : 'live');
  const apiKeyId = newId();
  await db.$transaction([
    db.account.create({ data: { id: accountId, name, currency: input.currency, isTest: Boolean(input.test) } }),
    db.apiKey.create({
      data: { id: apiKeyId, accountId, prefix: key.prefix, keyHash: key.hash, scopes: [...SCOPES] },
    }),
  ]);
  if (!credit.isZero()) await adjustBalance(db, accountId, credit.toString(), 'opening credit');
  return { accountId, apiKey: key.key, apiKeyId };
}

export async function createApiKey(db: Db, accountId: string, scopes: Scope[]) {
  const account = await db.account.findUnique({ where: { id: accountId }, select: { isTest: true } });
  if (!account) throw new AccountError(`no account ${accountId}`);
  const key = generateApiKey(account.isTest ? 'test' : 'live');
  const apiKeyId = newId();
  await db.apiKey.create({ data: { id: apiKeyId, accountId, prefix: key.prefix, keyHash: key.hash, scopes } });
  return { apiKeyId, apiKey: key.key };
}

export async function revokeApiKey(db: Db, apiKeyId: string) {
  const existing = await db.apiKey.findUnique({ where: { id: apiKeyId }, select: { revokedAt: true } });
  if (!existing) throw new AccountError(`no API key ${apiKeyId}`);
  const revoked = existing.revokedAt
    ? existing
    : await db.apiKey.update({ where: { id: apiKeyId }, data: { revokedAt: new Date() }, select: { revokedAt: true } });
  // Other processes hear of it from the database (key-cache.ts); this one knows now.
  keyCacheOf(db).revoked(apiKeyId);
  return { apiKeyId, revokedAt: revoked.revokedAt!.toISOString() };
}

export async function listAccounts(db: Db) {
  const accounts = await db.account.findMany({ orderBy: { createdAt: 'asc' } });
  return accounts.map((a) => ({
    accountId: a.id,
    name: a.name,
    balance: formatMoney(a.balance),
    currency: a.currency,
    test: a.isTest,
  }));
}

function parseAmount(text: string): Decimal {
  if (!/^-?\d+(\.\d{1,4})?$/.test(text.trim())) {
    throw new AccountError(`"${text}" is not an amount (digits, at most 4 decimals)`);
  }
  return new Decimal(text.trim());
}

/**
 * Credits (or, with a negative amount, deducts) an account and records it in the ledger, in one
 * statement. A deduction below zero is refused by the database's CHECK constraint.
 */
export async function adjustBalance(db: Db, accountId: string, amount: string, note: string) {
  const value = parseAmount(amount);
  const rows = await db.$queryRaw<Array<{ balance: string }>>`
    WITH updated AS (
      UPDATE accounts SET balance = balance + ${value.toString()}::numeric, updated_at = now()
      WHERE id = ${accountId}::uuid AND balance + ${value.toString()}::numeric >= 0
      RETURNING id, balance
    ), entry AS (
      INSERT INTO ledger_entries (account_id, kind, amount, balance_after, note)
      SELECT id, ${value.isNegative() ? 'DEBIT' : 'CREDIT'}::"LedgerKind", ${value.toString()}::numeric, balance, ${note}
      FROM updated
    )
    SELECT balance::text AS balance FROM updated`;
  const row = rows[0];
  if (!row) {
    const exists = await db.account.findUnique({ where: { id: accountId }, select: { balance: true } });
    if (!exists) throw new AccountError(`no account ${accountId}`);
    throw new AccountError(`balance ${formatMoney(exists.balance)} cannot go below zero`);
  }
  return { accountId, balance: formatMoney(row.balance) };
}

import { newId } from '../shared/ids.ts';
import type { Db } from '../db/client.ts';
import { GatewayError } from '../shared/errors.ts';
import { Decimal, formatMoney } from '../messages/money.ts';
import { generateApiKey, SCOPES, type Scope } from './api-keys.ts';
import type { Caller } from './caller.ts';
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

export type NewApiKey = {
  scopes: readonly Scope[];
  name?: string | null;
  /** Normalised origins (see origins.ts); null: any. */
  allowedOrigins?: readonly string[] | null;
  expiresAt?: Date | null;
};

/** Makes a key for an account (CLI and createApiKey alike); the key itself is returned this once and stored hashed. */
export async function createApiKey(db: Db, accountId: string, options: NewApiKey) {
  const account = await db.account.findUnique({ where: { id: accountId }, select: { isTest: true } });
  if (!account) throw new GatewayError('ACCOUNT_NOT_FOUND', `No account ${accountId}.`);
  const key = generateApiKey(account.isTest ? 'test' : 'live');
  const apiKeyId = newId();
  await db.apiKey.create({
    data: {
      id: apiKeyId,
      accountId,
      prefix: key.prefix,
      keyHash: key.hash,
      scopes: [...options.scopes],
      name: options.name?.trim() || null,
      ...(options.allowedOrigins ? { allowedOrigins: [...options.allowedOrigins] } : {}),
      expiresAt: options.expiresAt ?? null,
    },
  });
  return { apiKeyId, apiKey: key.key };
}

export async function revokeApiKey(db: Db, apiKeyId: string) {
  const existing = await db.apiKey.findUnique({ where: { id: apiKeyId }, select: { revokedAt: true } });
  if (!existing) throw new GatewayError('API_KEY_NOT_FOUND', `No API key ${apiKeyId}.`);
  const revoked = existing.revokedAt
    ? existing
    : await db.apiKey.update({ where: { id: apiKeyId }, data: { revokedAt: new Date() }, select: { revokedAt: true } });
  // Other processes hear of it from the database (key-cache.ts); this one knows now.
  keyCacheOf(db).revoked(apiKeyId);
  return { apiKeyId, revokedAt: revoked.revokedAt!.toISOString() };
}

/** The account as the sender of what the CLI sends for it: priced and routed as its keys are. */
export async function callerOfAccount(db: Db, accountId: string): Promise<Caller | undefined> {
  const account = await db.account.findUnique({ where: { id: accountId } });
  if (!account) return undefined;
  return {
    accountId: account.id,
    apiKeyId: 'cli',
    keyPrefix: 'cli',
    scopes: ['send'],
    isTest: account.isTest,
    currency: account.currency,
    prices: account.prices as Record<string, string> | null,
  };
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

/** A signed decimal amount with at most 4 places (what a balance holds), or undefined. */
export function readAmount(text: string): Decimal | undefined {
  return /^-?\d{1,15}(\.\d{1,4})?$/.test(text.trim()) ? new Decimal(text.trim()) : undefined;
}

function parseAmount(text: string): Decimal {
  const amount = readAmount(text);
  if (!amount) throw new AccountError(`"${text}" is not an amount (digits, at most 4 decimals)`);
  return amount;
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

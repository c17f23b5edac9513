import DataLoader from 'dataloader';
import { builder } from '../graphql/builder.ts';
import { limit, type GraphQLContext } from '../graphql/context.ts';
import { GatewayError } from '../shared/errors.ts';
import { globalIdOf, rowIdOf } from '../graphql/ids.ts';
import { cursorCodec, DEFAULT_PAGE, firstArgument, pageOf } from '../graphql/pages.ts';
import { formatMoney } from '../messages/money.ts';
import { createApiKey, revokeApiKey } from './accounts.ts';
import type { Caller } from './caller.ts';
import { grantedExpiry, grantedOrigins, grantedScopes } from './grants.ts';
import { monthlyUsage, type MonthlyUsage } from './sub-accounts.ts';

type BalanceShape = { id: string; balance: { toString(): string }; currency: string; updatedAt: Date };

const Balance = builder.objectRef<BalanceShape>('Balance').implement({
  fields: (t) => ({
    accountId: t.id({ resolve: (a) => a.id }),
    amount: t.string({ description: 'Decimal, e.g. "12.50".', resolve: (a) => formatMoney(a.balance.toString()) }),
    currency: t.exposeString('currency'),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

builder.queryField('balance', (t) =>
  t.field({
    type: Balance,
    authScopes: { read: true },
    resolve: async (_root, _args, ctx) => {
      await limit(ctx, 'balance');
      return ctx.services.db.account.findUniqueOrThrow({
        where: { id: ctx.caller.accountId },
        select: { id: true, balance: true, currency: true, updatedAt: true },
      });
    },
  }),
);

/** An account's money and use are its own and its parent's business: not its children's, nor anyone else's. */
function assertOverseen(caller: Caller, account: { id: string; parentId: string | null }): void {
  if (account.id !== caller.accountId && account.parentId !== caller.accountId) {
    throw new GatewayError('INSUFFICIENT_PERMISSIONS', "Only the account itself and its parent read its balance, prices and use.");
  }
}

const usageLoaders = new WeakMap<GraphQLContext, DataLoader<string, MonthlyUsage>>();
/** A page of sub-accounts costs one query for all their usage. */
function usageOf(ctx: GraphQLContext, accountId: string): Promise<MonthlyUsage> {
  let loader = usageLoaders.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (ids) => {
      const usage = await monthlyUsage(ctx.services.db, ids);
      return ids.map((id) => usage.get(id)!);
    });
    usageLoaders.set(ctx, loader);
  }
  return loader.load(accountId);
}

const AccountUsage = builder.objectRef<MonthlyUsage>('AccountUsage').implement({
  description: 'What an account sent this calendar month (UTC), and what it cost.',
  fields: (t) => ({
    since: t.expose('since', { type: 'DateTime', description: 'The start of the month, UTC.' }),
    messages: t.exposeInt('messages', { description: 'Messages accepted.' }),
    recipients: t.exposeInt('recipients', { description: 'Deliveries: one per recipient of each message.' }),
    spend: t.string({ description: 'Debited for sends, less refunds; decimal, in the account currency.', resolve: (u) => formatMoney(u.spend) }),
  }),
});

const CountryPrice = builder.objectRef<{ country: string; pricePerSegment: string }>('CountryPrice').implement({
  fields: (t) => ({
    country: t.exposeString('country', { description: 'ISO 3166 alpha-2, or "default" for every other destination.' }),
    pricePerSegment: t.string({ resolve: (p) => formatMoney(p.pricePerSegment) }),
  }),
});

export const Account = builder.prismaNode('Account', {
  id: { field: 'id' },
  fields: (t) => ({
    name: t.exposeString('name'),
    currency: t.exposeString('currency'),
    balance: t.string({
      description: 'Decimal. Read by the account itself and by its parent.',
      resolve: (account, _args, ctx) => {
        assertOverseen(ctx.caller, account);
        return formatMoney(account.balance);
      },
    }),
    test: t.exposeBoolean('isTest', { description: 'Test accounts always send through the sandbox and are never charged.' }),
    parent: t.prismaField({
      type: 'Account',
      nullable: true,
      description: 'The reseller account of a sub-account; null for a top-level account. Sub-accounts are one level deep.',
      resolve: (query, account, _args, ctx) =>
        account.parentId ? ctx.services.db.account.findUnique({ ...query, where: { id: account.parentId } }) : null,
    }),
    suspended: t.boolean({ resolve: (account) => account.suspendedAt !== null }),
    prices: t.field({
      type: [CountryPrice],
      nullable: true,
      description: "A sub-account's own prices per segment; null (and any destination not listed): the gateway's prices.",
      resolve: (account, _args, ctx) => {
        assertOverseen(ctx.caller, account);
        const prices = account.prices as Record<string, string> | null;
        return prices ? Object.entries(prices).map(([country, pricePerSegment]) => ({ country, pricePerSegment })) : null;
      },
    }),
    usageThisMonth: t.field({
      type: AccountUsage,
      description: 'Read by the account itself and by its parent.',
      resolve: (account, _args, ctx) => {
        assertOverseen(ctx.caller, account);
        return usageOf(ctx, account.id);
      },
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const ApiKey = builder.prismaNode('ApiKey', {
  id: { field: 'id' },
  description: 'An API key as listed: the key itself was shown once, when it was made, and is stored hashed.',
  fields: (t) => ({
    accountId: t.id({ resolve: (key) => globalIdOf('Account', key.accountId) }),
    name: t.exposeString('name', { nullable: true }),
    prefix: t.exposeString('prefix', { description: 'The visible start of the key.' }),
    scopes: t.exposeStringList('scopes'),
    allowedOrigins: t.stringList({
      nullable: true,
      description: 'Browser origins it may be used from; null: any. A guard for browsers, not a secret: a server can send any Origin.',
      resolve: (key) => (key.allowedOrigins.length > 0 ? key.allowedOrigins : null),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'To the minute.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

/**
 * The account a field acts on: the caller's own when no id is given, or one of its
 * sub-accounts. Anything else (another account, a sibling, the parent) is ACCOUNT_NOT_FOUND.
 */
export async function accountInReach(ctx: GraphQLContext, globalId: string | null | undefined): Promise<{ id: string; suspended: boolean; own: boolean }> {
  const { caller, services } = ctx;
  const id = globalId ? rowIdOf(globalId, 'Account') : caller.accountId;
  if (id === caller.accountId) return { id, suspended: false, own: true };
  const child = id ? await services.db.account.findFirst({ where: { id, parentId: caller.accountId }, select: { suspendedAt: true } }) : null;
  if (!child) throw new GatewayError('ACCOUNT_NOT_FOUND', 'No account of yours, or sub-account of yours, has this id.', { argument: 'accountId' });
  return { id: id!, suspended: child.suspendedAt !== null, own: false };
}

builder.queryField('account', (t) =>
  t.prismaField({
    type: 'Account',
    authScopes: { $any: { read: true, admin: true } },
    description: "The caller's account.",
    resolve: async (query, _root, _args, ctx) => {
      await limit(ctx, 'status');
      return ctx.services.db.account.findUniqueOrThrow({ ...query, where: { id: ctx.caller.accountId } });
    },
  }),
);

const ApiKeyConnection = builder.connectionObject({ type: ApiKey, name: 'ApiKeyConnection' });
const apiKeyCursor = cursorCodec('ak', /^[0-9a-f-]{36}$/, (id) => id);

builder.queryField('apiKeys', (t) =>
  t.field({
    type: ApiKeyConnection,
    authScopes: { admin: true },
    description: "The account's keys, revoked ones too, newest first; with accountId, a sub-account's.",
    args: {
      accountId: t.arg.id({ required: false, description: 'One of your sub-accounts; yours when omitted.' }),
      first: t.arg.int(firstArgument),
      after: t.arg.string({ required: false }),
    },
    resolve: async (_root, args, ctx) => {
      await limit(ctx, 'status');
      const account = await accountInReach(ctx, args.accountId);
      const take = args.first ?? DEFAULT_PAGE;
      const after = args.after ? apiKeyCursor.decode(args.after) : undefined;
      const rows = await ctx.services.db.apiKey.findMany({
        where: { accountId: account.id, ...(after ? { id: { lt: after } } : {}) },
        orderBy: { id: 'desc' },
        take: take + 1,
      });
      return pageOf(rows, take, after, (row) => apiKeyCursor.encode(row.id));
    },
  }),
);

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    name: t.string({ required: false }),
    scopes: t.stringList({ required: true, description: 'send, read, admin: at most those of the key making it.' }),
    allowedOrigins: t.stringList({
      required: false,
      description: "Browser origins (scheme://host[:port]) it may be used from; omitted: those of the key making it (any, when it has none).",
    }),
    expiresAt: t.field({ type: 'DateTime', required: false, description: 'Never after the key making it ends.' }),
    accountId: t.id({ required: false, description: 'One of your sub-accounts; yours when omitted.' }),
  }),
});

const CreateApiKeyPayload = builder.objectRef<{ apiKeyId: string; secret: string }>('CreateApiKeyPayload').implement({
  fields: (t) => ({
    apiKey: t.prismaField({
      type: 'ApiKey',
      resolve: (query, payload, _args, ctx) => ctx.services.db.apiKey.findUniqueOrThrow({ ...query, where: { id: payload.apiKeyId } }),
    }),
    secret: t.exposeString('secret', { description: 'The key itself: shown this once, stored hashed.' }),
  }),
});

builder.mutationField('createApiKey', (t) =>
  t.field({
    type: CreateApiKeyPayload,
    authScopes: { admin: true },
    description: 'A key for your account or one of your sub-accounts, granting at most what the calling key holds.',
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await limit(ctx, 'admin');
      const name = input.name?.trim() || null;
      if (name && name.length > 100) throw new GatewayError('BAD_USER_INPUT', 'name: at most 100 characters.', { argument: 'name' });
      const scopes = grantedScopes(ctx.caller, input.scopes);
      const allowedOrigins = grantedOrigins(ctx.caller, input.allowedOrigins);
      const expiresAt = grantedExpiry(ctx.caller, input.expiresAt);
      const account = await accountInReach(ctx, input.accountId);
      if (account.suspended) throw new GatewayError('ACCOUNT_SUSPENDED', 'This sub-account is suspended: lift the suspension first.');
      const created = await createApiKey(ctx.services.db, account.id, { scopes, name, allowedOrigins, expiresAt });
      return { apiKeyId: created.apiKeyId, secret: created.apiKey };
    },
  }),
);

builder.mutationField('revokeApiKey', (t) =>
  t.prismaField({
    type: 'ApiKey',
    authScopes: { admin: true },
    description: "Revokes a key of your account or of one of your sub-accounts, at once, with every token made from it. Revoking a revoked key changes nothing.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, args, ctx) => {
      await limit(ctx, 'admin');
      const { db } = ctx.services;
      const id = rowIdOf(args.id, 'ApiKey');
      const key = id
        ? await db.apiKey.findFirst({
            where: { id, OR: [{ accountId: ctx.caller.accountId }, { account: { parentId: ctx.caller.accountId } }] },
            select: { id: true },
          })
        : null;
      if (!key) throw new GatewayError('API_KEY_NOT_FOUND', 'No key of yours, or of your sub-accounts, has this id.', { argument: 'id' });
      await revokeApiKey(db, key.id);
      return db.apiKey.findUniqueOrThrow({ ...query, where: { id: key.id } });
    },
  }),
);

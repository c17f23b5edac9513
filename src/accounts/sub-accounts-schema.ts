import { builder } from '../graphql/builder.ts';
import { limit } from '../graphql/context.ts';
import { GatewayError } from '../shared/errors.ts';
import { rowIdOf } from '../graphql/ids.ts';
import { cursorCodec, DEFAULT_PAGE, firstArgument, pageOf } from '../graphql/pages.ts';
import { Account } from './schema.ts';
import { createSubAccount, setSuspended, transferCredit } from './sub-accounts.ts';

const CountryPriceInput = builder.inputType('CountryPriceInput', {
  fields: (t) => ({
    country: t.string({ required: true, description: 'ISO 3166 alpha-2, or "default" for every destination not listed.' }),
    pricePerSegment: t.string({ required: true, description: "Decimal, in the sub-account's currency." }),
  }),
});

const CreateSubAccountInput = builder.inputType('CreateSubAccountInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    currency: t.string({ required: false, description: "ISO 4217; yours when omitted. One the gateway has no prices in needs a \"default\" price." }),
    prices: t.field({
      type: [CountryPriceInput],
      required: false,
      description: "Its own price per segment by destination; destinations not listed are priced from the gateway's table.",
    }),
  }),
});

const TransferCreditInput = builder.inputType('TransferCreditInput', {
  fields: (t) => ({
    accountId: t.id({ required: true, description: 'One of your sub-accounts.' }),
    amount: t.string({ required: true, description: 'Decimal in your currency; positive: you to the sub-account (a recharge), negative: back to you.' }),
    exchangeRate: t.string({
      required: false,
      description: "Units of the sub-account's currency per unit of yours; needed only when the two differ.",
    }),
  }),
});

/** The row id of one of the caller's sub-accounts, from its global id; anything else reads as not found. */
function subAccountId(globalId: string): string {
  const id = rowIdOf(globalId, 'Account');
  if (!id) throw new GatewayError('ACCOUNT_NOT_FOUND', 'No sub-account of yours has this id.', { argument: 'accountId' });
  return id;
}

builder.mutationField('createSubAccount', (t) =>
  t.prismaField({
    type: 'Account',
    authScopes: { admin: true },
    description: 'An account for one of your customers, with its own balance, currency and prices. Sub-accounts are one level deep.',
    args: { input: t.arg({ type: CreateSubAccountInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      await limit(ctx, 'admin');
      const { db, config } = ctx.services;
      const id = await createSubAccount(db, ctx.caller.accountId, input, config.priceTable);
      return db.account.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
);

const AccountConnection = builder.connectionObject({ type: Account, name: 'AccountConnection' });
const subAccountCursor = cursorCodec('sa', /^[0-9a-f-]{36}$/, (id) => id);

builder.queryField('subAccounts', (t) =>
  t.field({
    type: AccountConnection,
    authScopes: { admin: true },
    description: 'Your sub-accounts, oldest first, with their balances and this month\'s use.',
    args: { first: t.arg.int(firstArgument), after: t.arg.string({ required: false }) },
    resolve: async (_root, args, ctx) => {
      await limit(ctx, 'reports');
      const take = args.first ?? DEFAULT_PAGE;
      const after = args.after ? subAccountCursor.decode(args.after) : undefined;
      const rows = await ctx.services.db.account.findMany({
        where: { parentId: ctx.caller.accountId, ...(after ? { id: { gt: after } } : {}) },
        orderBy: { id: 'asc' },
        take: take + 1,
      });
      return pageOf(rows, take, after, (row) => subAccountCursor.encode(row.id));
    },
  }),
);

builder.mutationField('transferCredit', (t) =>
  t.prismaField({
    type: 'Account',
    authScopes: { admin: true },
    description:
      'Moves credit between you and a sub-account, both ways; neither side ever goes below zero (INSUFFICIENT_BALANCE). Returns the sub-account.',
    args: { input: t.arg({ type: TransferCreditInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      await limit(ctx, 'admin');
      const childId = subAccountId(input.accountId);
      await transferCredit(ctx.services.db, { parentId: ctx.caller.accountId, childId, amount: input.amount, exchangeRate: input.exchangeRate });
      return ctx.services.db.account.findUniqueOrThrow({ ...query, where: { id: childId } });
    },
  }),
);

builder.mutationField('suspendSubAccount', (t) =>
  t.prismaField({
    type: 'Account',
    authScopes: { admin: true },
    description: 'Suspended, its keys and tokens are refused at once (ACCOUNT_SUSPENDED) and its WebSockets close; false lifts it.',
    args: { id: t.arg.id({ required: true }), suspended: t.arg.boolean({ required: true }) },
    resolve: async (query, _root, args, ctx) => {
      await limit(ctx, 'admin');
      const childId = subAccountId(args.id);
      await setSuspended(ctx.services.db, ctx.caller.accountId, childId, args.suspended);
      return ctx.services.db.account.findUniqueOrThrow({ ...query, where: { id: childId } });
    },
  }),
);

import { LedgerKind } from '../db/sql.ts';
import { builder } from '../graphql/builder.ts';
import { limit } from '../graphql/context.ts';
import { globalIdOf, rowIdOf } from '../graphql/ids.ts';
import { cursorCodec, DEFAULT_PAGE, firstArgument, pageOf } from '../graphql/pages.ts';
import { formatMoney } from '../messages/money.ts';
import { accountInReach } from './schema.ts';

const LedgerEntryKind = builder.enumType(LedgerKind, { name: 'LedgerEntryKind' });

const LedgerEntry = builder.prismaNode('LedgerEntry', {
  id: { field: 'id' },
  description: 'One change of a balance. Every change is one; added up, they come to the balance.',
  fields: (t) => ({
    amount: t.string({ description: 'Signed decimal: negative is a debit.', resolve: (e) => formatMoney(e.amount) }),
    balanceAfter: t.string({ resolve: (e) => formatMoney(e.balanceAfter) }),
    kind: t.expose('kind', { type: LedgerEntryKind }),
    messageId: t.id({
      nullable: true,
      description: 'The message a DEBIT paid for, or a REFUND gave back for.',
      resolve: (e) => (e.messageId ? globalIdOf('Message', e.messageId) : null),
    }),
    deliveryId: t.id({
      nullable: true,
      description: 'The delivery a REFUND gave back for.',
      resolve: (e) => (e.deliveryId ? globalIdOf('Delivery', e.deliveryId) : null),
    }),
    counterpartAccountId: t.id({
      nullable: true,
      description: 'The other account of a transfer: the parent, or the sub-account.',
      resolve: (e) => (e.counterpartAccountId ? globalIdOf('Account', e.counterpartAccountId) : null),
    }),
    note: t.exposeString('note', { nullable: true, description: 'What caused it, in words (sendSms, transferCredit, cli credit...).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const LedgerEntryConnection = builder.connectionObject({ type: LedgerEntry, name: 'LedgerEntryConnection' });
const ledgerCursor = cursorCodec('le', /^\d{1,19}$/, (id) => BigInt(id));

builder.queryField('ledger', (t) =>
  t.field({
    type: LedgerEntryConnection,
    // Your own ledger needs read; a sub-account's needs admin.
    authScopes: (_root, args, ctx) =>
      args.accountId && rowIdOf(args.accountId, 'Account') !== ctx.caller.accountId ? { admin: true } : { read: true },
    description: "Every debit, refund, credit and transfer of the account, newest first, with the balance after each. With accountId, one of your sub-accounts'.",
    args: {
      accountId: t.arg.id({ required: false }),
      first: t.arg.int(firstArgument),
      after: t.arg.string({ required: false }),
    },
    resolve: async (_root, args, ctx) => {
      await limit(ctx, 'reports');
      const account = await accountInReach(ctx, args.accountId);
      const take = args.first ?? DEFAULT_PAGE;
      const after = args.after ? ledgerCursor.decode(args.after) : undefined;
      const rows = await ctx.services.db.ledgerEntry.findMany({
        where: { accountId: account.id, ...(after !== undefined ? { id: { lt: after } } : {}) },
        orderBy: { id: 'desc' },
        take: take + 1,
      });
      return pageOf(rows, take, after, (row) => ledgerCursor.encode(row.id));
    },
  }),
);

import { builder } from '../graphql/builder.ts';
import { limit } from '../graphql/context.ts';
import { formatMoney } from '../messages/money.ts';

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

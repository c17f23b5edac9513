import { builder } from '../graphql/builder.ts';
import { limit, type GraphQLContext } from '../graphql/context.ts';
import { GatewayError } from '../shared/errors.ts';
import { DEFAULT_PAGE, firstArgument, pageOf } from '../graphql/pages.ts';
import { addOptOuts, readNumbers, removeOptOuts, type OptOutRow } from './optouts.ts';

const OptOut = builder.objectRef<OptOutRow>('OptOut').implement({
  description: 'A number the account does not send to: sendSms and smsQuote reject it with OPTED_OUT.',
  fields: (t) => ({
    recipient: t.exposeString('recipient', { description: 'E.164' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

const OptOutConnection = builder.connectionObject({ type: OptOut, name: 'OptOutConnection' });

function encodeOptOutCursor(recipient: string): string {
  return Buffer.from(`oo:${recipient}`).toString('base64url');
}

function decodeOptOutCursor(cursor: string): string {
  const match = /^oo:(\+\d{3,17})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || encodeOptOutCursor(match[1]!) !== cursor) {
    throw new GatewayError('BAD_USER_INPUT', 'The cursor is not one this API issued.', { argument: 'after' });
  }
  return match[1]!;
}

builder.queryField('optOuts', (t) =>
  t.field({
    type: OptOutConnection,
    authScopes: { read: true },
    description: "The account's opt-outs, by number.",
    args: {
      first: t.arg.int(firstArgument),
      after: t.arg.string({ required: false }),
    },
    resolve: async (_root, args, ctx) => {
      await limit(ctx, 'reports');
      const take = args.first ?? DEFAULT_PAGE;
      const after = args.after ? decodeOptOutCursor(args.after) : undefined;
      const rows = await ctx.services.db.optOut.findMany({
        where: { accountId: ctx.caller.accountId, ...(after ? { recipient: { gt: after } } : {}) },
        orderBy: { recipient: 'asc' },
        take: take + 1,
        select: { recipient: true, createdAt: true },
      });
      return pageOf(rows, take, after, (row) => encodeOptOutCursor(row.recipient));
    },
  }),
);

/** Counts the request as a send, then reads its numbers as sendSms does. */
async function numbersOf(ctx: GraphQLContext, recipients: readonly string[]): Promise<string[]> {
  await limit(ctx, 'send');
  return readNumbers(recipients, ctx.services.config.defaultCountry);
}

builder.mutationField('addOptOuts', (t) =>
  t.field({
    type: [OptOut],
    authScopes: { send: true },
    description: 'Numbers are read as sendSms reads them; one that is not valid is INVALID_PHONE_FORMAT and nothing is added.',
    args: { recipients: t.arg.stringList({ required: true }) },
    resolve: async (_root, args, ctx) => addOptOuts(ctx.services.db, ctx.caller.accountId, await numbersOf(ctx, args.recipients)),
  }),
);

builder.mutationField('removeOptOuts', (t) =>
  t.int({
    authScopes: { send: true },
    description: 'How many were removed.',
    args: { recipients: t.arg.stringList({ required: true }) },
    resolve: async (_root, args, ctx) => removeOptOuts(ctx.services.db, ctx.caller.accountId, await numbersOf(ctx, args.recipients)),
  }),
);

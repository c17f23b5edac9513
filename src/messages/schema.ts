import { builder } from '../graphql/builder.ts';
import { limit } from '../graphql/context.ts';
import { messageDeliveriesComplexity } from '../graphql/complexity.ts';
import { SmsEncodingEnum, MessageStatusEnum } from '../graphql/enums.ts';
import { GatewayError } from '../shared/errors.ts';
import { rowIdOf } from '../graphql/ids.ts';
import { findByReference, type AcceptedMessage } from './accept.ts';
import { cancelScheduled } from './cancel.ts';
import { withoutOptedOut } from '../optouts/optouts.ts';
import { withinMessageLimit } from '../accounts/grants.ts';
import { sendSmsInputSchema } from './send-input.ts';
import { formatMoney } from './money.ts';
import type { RejectedRecipient } from './recipients.ts';
import { hashRequest, planSend } from './send-plan.ts';


export const Message = builder.prismaNode('Message', {
  id: { field: 'id' },
  fields: (t) => ({
    text: t.exposeString('text'),
    senderId: t.exposeString('senderId'),
    reference: t.exposeString('reference', { nullable: true }),
    status: t.expose('status', { type: MessageStatusEnum }),
    encoding: t.expose('encoding', { type: SmsEncodingEnum }),
    segments: t.exposeInt('segments', { description: 'Segments per recipient (the most, when texts are personalised).' }),
    recipientCount: t.exposeInt('recipientCount'),
    cost: t.string({ description: 'Debited when the message was accepted; decimal.', resolve: (m) => formatMoney(m.cost) }),
    currency: t.exposeString('currency'),
    scheduledAt: t.expose('scheduledAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    deliveries: t.relation('deliveries', { query: { orderBy: { id: 'asc' } }, complexity: messageDeliveriesComplexity }),
  }),
});

export const RejectedRecipientRef = builder.objectRef<RejectedRecipient>('RejectedRecipient').implement({
  fields: (t) => ({
    input: t.exposeString('input'),
    code: t.exposeString('code'),
    reason: t.exposeString('reason'),
  }),
});

const PersonalizedRecipientInput = builder.inputType('PersonalizedRecipientInput', {
  fields: (t) => ({
    to: t.string({ required: true }),
    variables: t.field({
      type: 'JSON',
      required: true,
      description: 'Values for the placeholders: an object of text, numbers or booleans.',
    }),
  }),
});

export const SendSmsInput = builder.inputType('SendSmsInput', {
  fields: (t) => ({
    message: t.string({ required: true, description: 'May hold {{placeholders}} filled from `personalized`.' }),
    recipients: t.stringList({
      required: false,
      description: 'E.164 (+255...), international digits (255...), or national (0712...) read with DEFAULT_COUNTRY.',
    }),
    personalized: t.field({ type: [PersonalizedRecipientInput], required: false }),
    senderId: t.string({ required: false }),
    scheduleTime: t.field({ type: 'DateTime', required: false, description: 'In the future, at most 35 days ahead.' }),
    reference: t.string({ required: false, description: 'Idempotency key, unique per account.' }),
    provider: t.string({ required: false, description: 'Force one upstream provider; otherwise routing decides.' }),
  }),
}).validate(sendSmsInputSchema);

type SendSmsPayloadShape = { messageId: string; rejectedRecipients: RejectedRecipient[]; message?: AcceptedMessage };

const SendSmsPayload = builder.objectRef<SendSmsPayloadShape>('SendSmsPayload').implement({
  fields: (t) => ({
    message: t.prismaField({
      type: 'Message',
      // A message just accepted is answered from what was written; a replay is read back.
      resolve: (query, payload, _args, ctx) =>
        (payload.message as never) ?? ctx.services.db.message.findUniqueOrThrow({ ...query, where: { id: payload.messageId } }),
    }),
    rejectedRecipients: t.field({
      type: [RejectedRecipientRef],
      description: 'Inputs that were not accepted, with why.',
      resolve: (payload) => payload.rejectedRecipients,
    }),
  }),
});

type QuoteShape = ReturnType<typeof planSend> & { balance: string };

const SmsQuote = builder.objectRef<QuoteShape>('SmsQuote').implement({
  description: 'What sendSms would do, without doing it.',
  fields: (t) => ({
    encoding: t.field({ type: SmsEncodingEnum, resolve: (q) => q.encoding }),
    segments: t.exposeInt('segments'),
    unicodeCharacters: t.exposeStringList('unicodeCharacters', { description: 'The characters that force UCS2.' }),
    acceptedRecipients: t.stringList({ resolve: (q) => q.deliveries.map((d) => d.recipient) }),
    rejectedRecipients: t.field({ type: [RejectedRecipientRef], resolve: (q) => q.rejected }),
    cost: t.string({ resolve: (q) => formatMoney(q.cost) }),
    currency: t.exposeString('currency'),
    balanceAfter: t.string({ resolve: (q) => formatMoney(q.cost.negated().plus(q.balance)) }),
    provider: t.string({
      nullable: true,
      description: 'The provider that would carry it (the first of its route that can); null when none can (sendSms: NO_ROUTE).',
      resolve: (q) => q.provider,
    }),
  }),
});

builder.mutationField('sendSms', (t) =>
  t.field({
    type: SendSmsPayload,
    authScopes: { send: true },
    args: { input: t.arg({ type: SendSmsInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { services, caller } = ctx;
      const limited = limit(ctx, 'send');
      // A retry finds its message before anything is checked again: a scheduled time since
      // passed, or a provider since disabled, must not turn it into an error.
      if (input.reference) {
        await limited;
        const senderId = input.senderId ?? services.config.defaultSenderId;
        const replay = await findByReference(services.db, caller, input.reference, hashRequest(input, senderId));
        if (replay) return { messageId: replay.messageId, rejectedRecipients: replay.rejectedRecipients };
      }
      // Planned while the rate limit is asked (a round trip to Redis); a refusal still comes first.
      const plan = await plannedAfter(limited, () => planSend(input, caller, services.config, services.providers, { router: services.router }));
      return services.acceptQueue.submit({ caller, plan });
    },
  }),
);

/** `plan()` run now, answered once `limited` has settled: its refusal wins over the plan's own error. */
async function plannedAfter<T>(limited: Promise<void>, plan: () => T): Promise<T> {
  let planned: T;
  try {
    planned = plan();
  } catch (error) {
    await limited;
    throw error;
  }
  await limited;
  return planned;
}

builder.queryField('smsQuote', (t) =>
  t.field({
    type: SmsQuote,
    authScopes: { $any: { send: true, read: true } },
    args: { input: t.arg({ type: SendSmsInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await limit(ctx, 'status');
      const plan = await withoutOptedOut(
        ctx.services.db,
        ctx.caller.accountId,
        planSend(input, ctx.caller, ctx.services.config, ctx.services.providers, { quote: true, router: ctx.services.router }),
      );
      const account = await ctx.services.db.account.findUniqueOrThrow({
        where: { id: ctx.caller.accountId },
        select: { balance: true },
      });
      return { ...plan, balance: account.balance.toString() };
    },
  }),
);

builder.queryField('message', (t) =>
  t.prismaField({
    type: 'Message',
    nullable: true,
    authScopes: { readMessage: true },
    description: "Another account's message reads as not found, and so does any but its own for a token limited to one message.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, args, ctx) => {
      await limit(ctx, 'status');
      const id = withinMessageLimit(ctx.caller, rowIdOf(args.id, 'Message'));
      const message = id
        ? await ctx.services.db.message.findFirst({ ...query, where: { id, accountId: ctx.caller.accountId } })
        : null;
      if (!message) throw new GatewayError('MESSAGE_NOT_FOUND', 'No message has this id.');
      return message;
    },
  }),
);

builder.mutationField('cancelMessage', (t) =>
  t.prismaField({
    type: 'Message',
    authScopes: { send: true },
    description:
      'Its SCHEDULED deliveries become CANCELED and are refunded; one a dispatcher has already taken keeps its course (its status says which).',
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, args, ctx) => {
      await limit(ctx, 'send');
      const { db } = ctx.services;
      const id = rowIdOf(args.id, 'Message');
      const message = id ? await db.message.findFirst({ where: { id, accountId: ctx.caller.accountId }, select: { id: true } }) : null;
      if (!message) throw new GatewayError('MESSAGE_NOT_FOUND', 'No message has this id.');
      const cancelled = await cancelScheduled(ctx.services, message.id);
      if (cancelled.length === 0) {
        throw new GatewayError('MESSAGE_NOT_CANCELLABLE', 'The message has no scheduled delivery left to cancel.');
      }
      return db.message.findUniqueOrThrow({ ...query, where: { id: message.id } });
    },
  }),
);

import { z } from 'zod';
import { builder } from '../graphql/builder.ts';
import { ATTEMPTS_PER_DELIVERY } from '../graphql/complexity.ts';
import { DEFAULT_PAGE, firstArgument } from '../graphql/pages.ts';
import { limit } from '../graphql/context.ts';
import { DeliveryStatusEnum, MessageStatusEnum } from '../graphql/enums.ts';
import { GatewayError } from '../shared/errors.ts';
import { globalIdOf, rowIdOf } from '../graphql/ids.ts';
import { coded, storableText } from '../shared/validation.ts';
import { Message } from '../messages/schema.ts';
import { formatMoney } from '../messages/money.ts';
import { normaliseNumber } from '../messages/recipients.ts';
import { decodeCursor, encodeCursor } from './event-log.ts';
import type { AttemptSnapshot, DeliveryUpdate, DeliveryWithRelations } from './records.ts';
import { reportCount, reportPage, type ReportCount, type ReportFilter } from './reports.ts';
import { decodeReportCursor, encodeReportCursor } from './report-cursor.ts';
import { expiredCursor } from './retention.ts';
import { withinMessageLimit } from '../accounts/grants.ts';

export const DeliveryAttemptRef = builder.objectRef<AttemptSnapshot>('DeliveryAttempt').implement({
  description: 'One hand-over of a delivery to a provider.',
  fields: (t) => ({
    provider: t.exposeString('provider'),
    at: t.expose('at', { type: 'DateTime' }),
    outcome: t.exposeString('outcome', { description: 'SUBMITTED, RETRY, FAILED_OVER, FAILED, or UNCONFIRMED (the answer was lost and the provider cannot be asked: not sent again).' }),
    errorCode: t.exposeString('errorCode', { nullable: true }),
    errorMessage: t.exposeString('errorMessage', { nullable: true }),
  }),
});

export const Delivery = builder.prismaNode('Delivery', {
  id: { field: 'id' },
  fields: (t) => ({
    recipient: t.exposeString('recipient', { description: 'E.164' }),
    status: t.expose('status', { type: DeliveryStatusEnum }),
    provider: t.exposeString('provider', { nullable: true }),
    providerMessageId: t.exposeString('providerMessageId', { nullable: true }),
    errorCode: t.exposeString('errorCode', { nullable: true }),
    errorMessage: t.exposeString('errorMessage', { nullable: true }),
    segments: t.exposeInt('segments'),
    cost: t.string({ description: 'The price of this delivery; decimal.', resolve: (d) => formatMoney(d.price) }),
    sentAt: t.expose('sentAt', { type: 'DateTime', nullable: true }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    // Updates carry these along; rows read from the database batch-load them.
    attempts: t.field({
      type: [DeliveryAttemptRef],
      complexity: { field: 1, multiplier: ATTEMPTS_PER_DELIVERY },
      description: 'Every hand-over to a provider, in order.',
      resolve: (d: DeliveryWithRelations, _args, ctx) => d.attempts ?? ctx.loaders.attempts.load(d),
    }),
    message: t.field({
      type: Message,
      // At once when the delivery carries its message (every update does), so that an update's
      // result is complete without waiting a turn (see graphql/shared-subscriptions.ts).
      resolve: (d: DeliveryWithRelations, _args, ctx) =>
        (d.message as never) ??
        ctx.loaders.message.load(d.messageId).then((message) => {
          if (!message) throw new GatewayError('MESSAGE_NOT_FOUND', 'No message has this id.');
          return message as never;
        }),
    }),
  }),
});

const DeliveryReportFilter = builder.inputType('DeliveryReportFilter', {
  fields: (t) => ({
    status: t.field({ type: DeliveryStatusEnum, required: false }),
    startDate: t.field({ type: 'DateTime', required: false, description: 'Deliveries created at or after this time.' }),
    endDate: t.field({ type: 'DateTime', required: false, description: 'Deliveries created before this time.' }),
    recipient: t.string({ required: false }),
    senderId: t.string({ required: false }),
    messageId: t.id({ required: false }),
  }),
  validate: z
    .looseObject({
      startDate: z.date().nullish(),
      endDate: z.date().nullish(),
      recipient: storableText.max(64).nullish(),
      senderId: storableText.max(64).nullish(),
    })
    .refine((f) => !f.startDate || !f.endDate || f.startDate < f.endDate, coded('BAD_USER_INPUT', 'startDate must be before endDate')),
});

/** A page of reports; the count is read only when `totalCount` or `isTotalCountExact` is asked for. */
type ReportConnection = { total: () => Promise<ReportCount> };

const DeliveryConnection = builder.connectionObject({
  type: Delivery,
  name: 'DeliveryConnection',
  fields: (t) => ({
    totalCount: t.int({
      description:
        'Deliveries matching the filter, on all pages. Exact with no filter, only a status, or a message; otherwise counted up to REPORT_COUNT_CAP (100,000 unless configured; see isTotalCountExact). Counted only when asked for.',
      resolve: async (connection) => (await (connection as unknown as ReportConnection).total()).count,
    }),
    isTotalCountExact: t.boolean({
      description: 'False when the count stopped at REPORT_COUNT_CAP: there are at least totalCount.',
      resolve: async (connection) => (await (connection as unknown as ReportConnection).total()).exact,
    }),
  }),
});

builder.queryField('deliveryReports', (t) =>
  t.field({
    type: DeliveryConnection,
    authScopes: { readMessage: true },
    description: 'Deliveries of the account, newest first, a page at a time (keyset pagination).',
    args: {
      filter: t.arg({ type: DeliveryReportFilter, required: false }),
      first: t.arg.int(firstArgument),
      after: t.arg.string({ required: false }),
    },
    resolve: async (_root, args, ctx) => {
      await limit(ctx, 'reports');
      const { db } = ctx.services;
      const { accountId } = ctx.caller;
      const filter = readFilter(args.filter ?? {}, ctx.services.config.defaultCountry);
      // A token limited to one message reads that message's deliveries only.
      const limitedTo = ctx.caller.token?.messageId;
      if (limitedTo) {
        filter.messageId = withinMessageLimit(ctx.caller, filter.messageId ?? limitedTo);
        if (!filter.messageId) throw new GatewayError('MESSAGE_NOT_FOUND', 'No message has this id.');
      }
      const take = args.first ?? DEFAULT_PAGE;
      const after = args.after ? decodeReportCursor(args.after) : undefined;
      const rows = await reportPage(db, accountId, filter, take + 1, after);
      const page = rows.slice(0, take);
      const edges = page.map((node) => ({ cursor: encodeReportCursor(node), node }));
      let total: Promise<ReportCount> | undefined;
      const connection: ReportConnection = { total: () => (total ??= reportCount(db, accountId, filter, ctx.services.config.history.reportCountCap)) };
      return {
        ...connection,
        edges,
        pageInfo: {
          hasNextPage: rows.length > take,
          hasPreviousPage: Boolean(after),
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  }),
);

function readFilter(
  filter: { status?: string | null; startDate?: Date | null; endDate?: Date | null; recipient?: string | null; senderId?: string | null; messageId?: string | null },
  defaultCountry: string,
): ReportFilter {
  const read: ReportFilter = {
    status: (filter.status as ReportFilter['status']) ?? null,
    startDate: filter.startDate ?? null,
    endDate: filter.endDate ?? null,
    senderId: filter.senderId ?? null,
  };
  if (filter.recipient) {
    const number = normaliseNumber(filter.recipient, defaultCountry);
    if (!number.ok) throw new GatewayError('INVALID_PHONE_FORMAT', `recipient: ${number.reason}`);
    read.recipient = number.e164;
  }
  if (filter.messageId) {
    const messageId = rowIdOf(filter.messageId, 'Message');
    if (!messageId) throw new GatewayError('MESSAGE_NOT_FOUND', 'No message has this id.');
    read.messageId = messageId;
  }
  return read;
}

const DeliveryUpdateRef = builder.objectRef<DeliveryUpdate>('DeliveryUpdate').implement({
  fields: (t) => ({
    cursor: t.string({
      description: "Position in the account's durable event log: pass it as `after` to resume.",
      resolve: (u) => encodeCursor(u.seq),
    }),
    messageId: t.id({ resolve: (u) => globalIdOf('Message', u.messageId) }),
    messageStatus: t.field({ type: MessageStatusEnum, resolve: (u) => u.messageStatus }),
    delivery: t.field({ type: Delivery, resolve: (u) => u.delivery }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime' }),
  }),
});

builder.subscriptionField('deliveryUpdated', (t) =>
  t.field({
    type: DeliveryUpdateRef,
    authScopes: { readMessage: true },
    description:
      "Every status change of the caller's account, or of one message. With `after`, the changes recorded after that cursor come first, in order, then live ones, with no gap and no duplicate.",
    args: {
      messageId: t.arg.id({ required: false }),
      after: t.arg.string({ required: false }),
    },
    subscribe: async (_root, args, ctx) => {
      await limit(ctx, 'status');
      const { db, feeds } = ctx.services;
      const afterSeq = args.after ? decodeCursor(args.after) : undefined;
      if (afterSeq !== undefined && (await expiredCursor(db, ctx.caller.accountId, afterSeq))) {
        throw new GatewayError(
          'CURSOR_EXPIRED',
          `Updates after this cursor are older than the event log keeps (${ctx.services.config.history.eventRetentionDays} days): read the current state with deliveryReports and subscribe without \`after\`.`,
          { argument: 'after' },
        );
      }
      let messageId: string | undefined;
      // A token limited to one message follows that message, whether it names it or not.
      const limitedTo = ctx.caller.token?.messageId ?? undefined;
      if (args.messageId || limitedTo) {
        messageId = withinMessageLimit(ctx.caller, args.messageId ? rowIdOf(args.messageId, 'Message') : limitedTo);
        const found =
          messageId && (await db.message.findFirst({ where: { id: messageId, accountId: ctx.caller.accountId }, select: { id: true } }));
        if (!found) throw new GatewayError('MESSAGE_NOT_FOUND', 'No message has this id.');
      }
      return feeds.subscribe(ctx.caller.accountId, { afterSeq, messageId });
    },
    resolve: (update) => update,
  }),
);

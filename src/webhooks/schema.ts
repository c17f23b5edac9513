import { decodeCursor, encodeCursor } from '../deliveries/event-log.ts';
import { expiredCursor } from '../deliveries/retention.ts';
import { builder } from '../graphql/builder.ts';
import { limit, type GraphQLContext } from '../graphql/context.ts';
import { GatewayError } from '../shared/errors.ts';
import { rowIdOf } from '../graphql/ids.ts';
import { DEFAULT_PAGE, firstArgument, pageOf } from '../graphql/pages.ts';
import { assertWebhookUrl } from './addresses.ts';
import { createEndpoint, deleteEndpoint } from './endpoints.ts';
import { queueReplay } from './outbox.ts';

/** Events one replayWebhooks queues at most; the answer's lastCursor continues from there. */
const MAX_REPLAY = 100_000;

type AttemptRow = {
  id: bigint;
  seq: bigint;
  attempt: number;
  outcome: string;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseExcerpt: string | null;
  at: Date;
};

const WebhookDelivery = builder.objectRef<AttemptRow>('WebhookDelivery').implement({
  description: 'One request made to an endpoint, and its answer.',
  fields: (t) => ({
    cursor: t.string({ description: "The event's cursor: the request's webhook-id.", resolve: (a) => encodeCursor(a.seq) }),
    attempt: t.exposeInt('attempt', { description: 'Which try for this event (1 for the first).' }),
    outcome: t.exposeString('outcome', { description: 'success, http_error, gone, timeout, network_error, refused or dropped.' }),
    statusCode: t.exposeInt('statusCode', { nullable: true }),
    durationMs: t.exposeInt('durationMs'),
    error: t.exposeString('error', { nullable: true }),
    responseExcerpt: t.exposeString('responseExcerpt', { nullable: true, description: 'The first 512 bytes of the answer, at most.' }),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

const WebhookDeliveryConnection = builder.connectionObject({ type: WebhookDelivery, name: 'WebhookDeliveryConnection' });

export const WebhookEndpoint = builder.prismaNode('WebhookEndpoint', {
  id: { field: 'id' },
  fields: (t) => ({
    url: t.exposeString('url'),
    enabled: t.exposeBoolean('enabled'),
    disabledReason: t.exposeString('disabledReason', { nullable: true, description: 'Why the gateway disabled it.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    deliveries: t.field({
      type: WebhookDeliveryConnection,
      description: 'Requests made to this endpoint, newest first.',
      args: {
        first: t.arg.int(firstArgument),
        after: t.arg.string({ required: false }),
      },
        resolve: async (endpoint, args, ctx) => {
        const take = args.first ?? DEFAULT_PAGE;
        const after = args.after ? decodeAttemptCursor(args.after) : undefined;
        const rows = await ctx.services.db.webhookAttempt.findMany({
          where: { endpointId: endpoint.id, ...(after !== undefined ? { id: { lt: after } } : {}) },
          orderBy: { id: 'desc' },
          take: take + 1,
        });
        return pageOf(rows, take, after, (row) => encodeAttemptCursor(row.id));
      },
    }),
  }),
});

function encodeAttemptCursor(id: bigint): string {
  return Buffer.from(`wa:${id}`).toString('base64url');
}

function decodeAttemptCursor(cursor: string): bigint {
  const match = /^wa:(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match || encodeAttemptCursor(BigInt(match[1]!)) !== cursor) {
    throw new GatewayError('BAD_USER_INPUT', 'The cursor is not one this API issued.', { argument: 'after' });
  }
  return BigInt(match[1]!);
}

/** The caller's endpoint by its global id; another account's reads as none. */
async function ownEndpoint(ctx: GraphQLContext, globalId: string) {
  const id = rowIdOf(globalId, 'WebhookEndpoint');
  const endpoint = id ? await ctx.services.db.webhookEndpoint.findFirst({ where: { id, accountId: ctx.caller.accountId } }) : null;
  if (!endpoint) throw new GatewayError('BAD_USER_INPUT', 'No webhook endpoint has this id.', { argument: 'endpointId' });
  return endpoint;
}

const CreateWebhookEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  fields: (t) => ({ url: t.string({ required: true }) }),
});

const CreateWebhookEndpointPayload = builder
  .objectRef<{ endpoint: { id: string }; secret: string }>('CreateWebhookEndpointPayload')
  .implement({
    fields: (t) => ({
      endpoint: t.prismaField({
        type: 'WebhookEndpoint',
        resolve: (query, payload, _args, ctx) => ctx.services.db.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: payload.endpoint.id } }),
      }),
      secret: t.exposeString('secret', { description: '"whsec_<base64>", shown once; signs every request to this endpoint.' }),
    }),
  });

const ReplayWebhooksPayload = builder.objectRef<{ queued: number; lastCursor: string | null }>('ReplayWebhooksPayload').implement({
  fields: (t) => ({
    queued: t.exposeInt('queued', { description: `Events queued for the endpoint (at most ${MAX_REPLAY}).` }),
    lastCursor: t.exposeString('lastCursor', { nullable: true, description: 'The last event queued: replay after it for more.' }),
  }),
});

builder.queryField('webhookEndpoints', (t) =>
  t.prismaField({
    type: ['WebhookEndpoint'],
    authScopes: { read: true },
    resolve: async (query, _root, _args, ctx) => {
      await limit(ctx, 'status');
      return ctx.services.db.webhookEndpoint.findMany({ ...query, where: { accountId: ctx.caller.accountId }, orderBy: { createdAt: 'asc' } });
    },
  }),
);

builder.mutationField('createWebhookEndpoint', (t) =>
  t.field({
    type: CreateWebhookEndpointPayload,
    authScopes: { $all: { send: true, read: true } },
    description: 'Every status change of the account is POSTed to the URL, signed (Standard Webhooks).',
    args: { input: t.arg({ type: CreateWebhookEndpointInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await limit(ctx, 'status');
      const { services } = ctx;
      const url = await assertWebhookUrl(input.url, services.webhooks.resolve, services.config.webhooks.allowPrivateUrls);
      return createEndpoint(services.db, await services.webhooks.secretKey(), ctx.caller.accountId, url.toString());
    },
  }),
);

builder.mutationField('deleteWebhookEndpoint', (t) =>
  t.prismaField({
    type: 'WebhookEndpoint',
    authScopes: { $all: { send: true, read: true } },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_query, _root, args, ctx) => {
      await limit(ctx, 'status');
      const endpoint = await ownEndpoint(ctx, args.id);
      const deleted = await deleteEndpoint(ctx.services.db, ctx.caller.accountId, endpoint.id);
      if (!deleted) throw new GatewayError('BAD_USER_INPUT', 'No webhook endpoint has this id.', { argument: 'id' });
      return { ...endpoint, ...deleted };
    },
  }),
);

builder.mutationField('replayWebhooks', (t) =>
  t.field({
    type: ReplayWebhooksPayload,
    authScopes: { $all: { send: true, read: true } },
    description:
      'Sends again every event after the cursor (CURSOR_EXPIRED when some have left the log); enables the endpoint if a 410 disabled it.',
    args: { endpointId: t.arg.id({ required: true }), after: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => {
      await limit(ctx, 'status');
      const afterSeq = decodeCursor(args.after);
      const endpoint = await ownEndpoint(ctx, args.endpointId);
      if (await expiredCursor(ctx.services.db, ctx.caller.accountId, afterSeq)) {
        throw new GatewayError('CURSOR_EXPIRED', 'Events after this cursor have left the event log: replay from a later cursor.', {
          argument: 'after',
        });
      }
      if (!endpoint.enabled) {
        await ctx.services.db.webhookEndpoint.update({ where: { id: endpoint.id }, data: { enabled: true, disabledReason: null } });
      }
      const { queued, lastSeq } = await queueReplay(ctx.services.db, endpoint, afterSeq, MAX_REPLAY);
      return { queued, lastCursor: lastSeq === null ? null : encodeCursor(lastSeq) };
    },
  }),
);

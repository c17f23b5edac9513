import { builder } from '../graphql/builder.ts';
import { limit } from '../graphql/context.ts';
import { GatewayError } from '../shared/errors.ts';
import { rowIdOf } from '../graphql/ids.ts';
import { cursorBeforeMessage } from '../deliveries/message-cursor.ts';
import { MAX_TOKEN_TTL_SECONDS } from './access-tokens.ts';
import { grantedOrigins, grantedScopes } from './grants.ts';

const CreateAccessTokenInput = builder.inputType('CreateAccessTokenInput', {
  fields: (t) => ({
    scopes: t.stringList({ required: true, description: 'send and/or read, at most those of the key; never admin.' }),
    ttlSeconds: t.int({ required: true, description: `1 to ${MAX_TOKEN_TTL_SECONDS}; never past the key's own end.` }),
    messageId: t.id({ required: false, description: 'Limits the token to reading this one message: message, deliveryReports and deliveryUpdated.' }),
    allowedOrigins: t.stringList({
      required: false,
      description: "Browser origins it may be used from; omitted: the key's (any, when it has none).",
    }),
  }),
});

type AccessTokenShape = { token: string; expiresAt: Date; scopes: string[]; after: string | null };

const AccessToken = builder.objectRef<AccessTokenShape>('AccessToken').implement({
  description: 'A short-lived token for a browser: `Authorization: Bearer <token>`, or {"authorization": "Bearer <token>"} in connection_init.',
  fields: (t) => ({
    token: t.exposeString('token'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    scopes: t.exposeStringList('scopes'),
    after: t.exposeString('after', {
      nullable: true,
      description:
        "For a token limited to a message: the cursor just before the message's first update. deliveryUpdated(after:) with it shows every update of the message, then the live ones.",
    }),
  }),
});

builder.mutationField('createAccessToken', (t) =>
  t.field({
    type: AccessToken,
    description:
      "For an app's backend to hand to its browser: at most an hour, never admin, at most the key's scopes and origins. It dies with its key.",
    args: { input: t.arg({ type: CreateAccessTokenInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await limit(ctx, 'tokens');
      const { caller, services } = ctx;
      if (caller.token) throw new GatewayError('INSUFFICIENT_PERMISSIONS', 'An access token cannot make tokens: ask with the key.');
      if (input.ttlSeconds < 1 || input.ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
        throw new GatewayError('BAD_USER_INPUT', `ttlSeconds: 1 to ${MAX_TOKEN_TTL_SECONDS}.`, {
          argument: 'ttlSeconds',
          maxTtlSeconds: MAX_TOKEN_TTL_SECONDS,
        });
      }
      if (input.scopes.includes('admin')) throw new GatewayError('INSUFFICIENT_PERMISSIONS', 'Access tokens never carry admin.', { argument: 'scopes' });
      const scopes = grantedScopes(caller, input.scopes);
      const allowedOrigins = grantedOrigins(caller, input.allowedOrigins);
      let messageId: string | null = null;
      if (input.messageId) {
        const id = rowIdOf(input.messageId, 'Message');
        const own = id ? await services.db.message.findFirst({ where: { id, accountId: caller.accountId }, select: { id: true } }) : null;
        if (!own) throw new GatewayError('MESSAGE_NOT_FOUND', 'No message has this id.', { argument: 'messageId' });
        messageId = own.id;
      }
      const expiresAt = new Date(Math.min(Date.now() + input.ttlSeconds * 1000, caller.expiresAt ?? Infinity));
      const token = await services.accessTokens.mint({ apiKeyId: caller.apiKeyId, scopes, expiresAt, messageId, allowedOrigins });
      const after = messageId ? await cursorBeforeMessage(services.db, caller.accountId, messageId) : null;
      return { token, expiresAt, scopes, after };
    },
  }),
);

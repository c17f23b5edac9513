import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import * as wsModule from 'ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { authenticate } from '../accounts/auth.ts';
import type { Caller } from '../accounts/caller.ts';
import { keyCacheOf } from '../accounts/key-cache.ts';
import { originAllowed } from '../accounts/origins.ts';
import type { Services } from '../services.ts';
import { GraphQLError } from 'graphql';
import { GatewayError } from '../shared/errors.ts';
import { asBadUserInput, toGraphQLError } from './errors.ts';
import type { SerialisedResult, SubscriptionSink } from './context.ts';
import type { GraphQLServer } from './yoga.ts';

type Extra = { caller?: Caller };

const PING_SLICE = 500;

/** Closed when the key behind a connection is revoked, or when a key has too many connections. */
export const REVOKED_CLOSE = { code: CloseCode.Forbidden, reason: 'API key revoked' } as const;
export const TOO_MANY_CONNECTIONS_CLOSE = { code: 1008, reason: 'Too many connections for this API key' } as const;
/** A peer that does not read what it is sent is dropped rather than buffered for without bound. */
export const TOO_SLOW_CLOSE = { code: 1013, reason: 'Too slow: reconnect and resubscribe with the last cursor received' } as const;
/** Refusals whose reason says which: retrying with the same credential will not help. */
export const SUSPENDED_CLOSE = { code: CloseCode.Forbidden, reason: 'ACCOUNT_SUSPENDED' } as const;
export const KEY_EXPIRED_CLOSE = { code: CloseCode.Forbidden, reason: 'API key expired' } as const;
export const ORIGIN_NOT_ALLOWED_CLOSE = { code: CloseCode.Forbidden, reason: 'ORIGIN_NOT_ALLOWED' } as const;
/**
 * An access token expired (at connection_init, or while the connection was open): connect again
 * with a fresh one. Not a code graphql-ws's client gives up on, so a client whose
 * connectionParams fetch a token reconnects, and resubscribes, by itself.
 */
export const TOKEN_EXPIRED_CLOSE = { code: 4419, reason: 'TOKEN_EXPIRED' } as const;
/** setTimeout's longest delay; a later expiry is caught by the periodic check. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * GraphQL over WebSocket (graphql-transport-ws) on the GraphQL path. Operations run through
 * yoga's envelop, so error masking and every plugin apply as they do over HTTP. The API key
 * comes in `connection_init`: missing closes with 4401, invalid with 4403, an expired access
 * token with TOKEN_EXPIRED_CLOSE, which also closes a connection when its token expires. Dead
 * peers are found by pings; connections of a revoked key or a suspended account are closed
 * when the database announces it, or within a revocation check period.
 */
export function attachWebSocket(httpServer: Server, yoga: GraphQLServer, services: Services) {
  const limits = services.config.websocket;
  // No permessage-deflate: subscription frames are written to the connection as they are (sinkFor).
  const wss = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint, maxPayload: 1024 * 1024, perMessageDeflate: false });
  const callers = new Map<WebSocket, Caller>();
  // Per credential: an access token is counted apart from its key, so that the browsers of one
  // app, each with a token of the app's key, are not limited together.
  const connectionsPerKey = new Map<string, number>();
  const credentialOf = (caller: Caller) => caller.token?.id ?? caller.apiKeyId;
  const expiryTimers = new Map<WebSocket, NodeJS.Timeout>();
  const alive = new WeakSet<WebSocket>();

  wss.on('connection', (socket) => {
    services.metrics.websockets.inc();
    alive.add(socket);
    socket.on('pong', () => alive.add(socket));
    socket.on('close', () => {
      services.metrics.websockets.dec();
      clearTimeout(expiryTimers.get(socket));
      expiryTimers.delete(socket);
      const caller = callers.get(socket);
      if (!caller) return;
      callers.delete(socket);
      const credential = credentialOf(caller);
      const left = (connectionsPerKey.get(credential) ?? 1) - 1;
      if (left > 0) connectionsPerKey.set(credential, left);
      else connectionsPerKey.delete(credential);
    });
  });

  // Pings go out a slice of connections at a time, so that ten thousand of them never hold the
  // event loop (or delay a fan-out) for the length of ten thousand socket writes.
  const keepAlive = setInterval(async () => {
    let pinged = 0;
    for (const socket of [...wss.clients]) {
      if (!alive.has(socket)) {
        socket.terminate();
        continue;
      }
      alive.delete(socket);
      socket.ping();
      if (++pinged % PING_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }, limits.keepAliveMs);

  const closeConnectionsOf = (apiKeyId: string) => {
    for (const [socket, caller] of callers) {
      if (caller.apiKeyId === apiKeyId) socket.close(REVOKED_CLOSE.code, REVOKED_CLOSE.reason);
    }
  };
  const closeConnectionsOfAccount = (accountId: string) => {
    for (const [socket, caller] of callers) {
      if (caller.accountId === accountId) socket.close(SUSPENDED_CLOSE.code, SUSPENDED_CLOSE.reason);
    }
  };
  const closeExpired = (socket: WebSocket, caller: Caller) => {
    const close = caller.token ? TOKEN_EXPIRED_CLOSE : KEY_EXPIRED_CLOSE;
    socket.close(close.code, close.reason);
  };
  const closeWhenExpired = (socket: WebSocket, caller: Caller) => {
    if (caller.expiresAt == null) return;
    const left = caller.expiresAt - Date.now();
    if (left <= MAX_TIMER_MS) expiryTimers.set(socket, setTimeout(() => closeExpired(socket, caller), Math.max(0, left)));
  };
  // Revocations and suspensions are announced as they commit; the periodic check below covers a missed one.
  const keyCache = keyCacheOf(services.db);
  keyCache.on('revoked', closeConnectionsOf);
  keyCache.on('suspended', closeConnectionsOfAccount);

  // One query per period for every connection of this process, whatever their number.
  const revocationCheck = setInterval(() => {
    const now = Date.now();
    for (const [socket, caller] of callers) {
      if (caller.expiresAt != null && caller.expiresAt <= now && !expiryTimers.has(socket)) closeExpired(socket, caller);
    }
    const keyIds = [...new Set([...callers.values()].map((c) => c.apiKeyId))];
    if (keyIds.length === 0) return;
    services.db.apiKey
      .findMany({
        where: { id: { in: keyIds }, OR: [{ revokedAt: { not: null } }, { account: { suspendedAt: { not: null } } }] },
        select: { id: true, accountId: true, revokedAt: true },
      })
      .then((stopped) => {
        for (const key of stopped) {
          if (key.revokedAt) closeConnectionsOf(key.id);
          else closeConnectionsOfAccount(key.accountId);
        }
      })
      .catch((error: unknown) => services.logger.warn({ err: error }, 'could not check for revoked keys'));
  }, limits.revocationCheckMs);

  const disposable = useServer<Record<string, unknown>, Extra>(
    {
      connectionInitWaitTimeout: limits.connectionInitTimeoutMs,
      execute: (args) => (args as unknown as { execute: (a: unknown) => unknown }).execute(args) as never,
      subscribe: (args) => (args as unknown as { subscribe: (a: unknown) => unknown }).subscribe(args) as never,
      onConnect: async (ctx) => {
        const header = ctx.connectionParams?.authorization;
        const socket = ctx.extra.socket;
        if (typeof header !== 'string' || !header.trim()) {
          socket.close(CloseCode.Unauthorized, 'Unauthorized: send {"authorization": "Bearer <api key>"}');
          return false;
        }
        let caller: Caller;
        try {
          caller = await authenticate(services.db, header, services.accessTokens);
        } catch (error) {
          if (!(error instanceof GatewayError)) throw error;
          if (error.code === 'TOKEN_EXPIRED') socket.close(TOKEN_EXPIRED_CLOSE.code, TOKEN_EXPIRED_CLOSE.reason);
          if (error.code === 'ACCOUNT_SUSPENDED') socket.close(SUSPENDED_CLOSE.code, SUSPENDED_CLOSE.reason);
          return false;
        }
        // The peer may have gone while its key was checked; its close was already handled.
        if (socket.readyState !== socket.OPEN) return false;
        // The upgrade's Origin: the key or token travels only now, so this is where it is refused.
        if (!originAllowed(caller, ctx.extra.request.headers.origin)) {
          socket.close(ORIGIN_NOT_ALLOWED_CLOSE.code, ORIGIN_NOT_ALLOWED_CLOSE.reason);
          return false;
        }
        const credential = credentialOf(caller);
        const open = connectionsPerKey.get(credential) ?? 0;
        if (open >= limits.maxConnectionsPerKey) {
          socket.close(TOO_MANY_CONNECTIONS_CLOSE.code, TOO_MANY_CONNECTIONS_CLOSE.reason);
          return false;
        }
        connectionsPerKey.set(credential, open + 1);
        callers.set(socket, caller);
        closeWhenExpired(socket, caller);
        ctx.extra.caller = caller;
        return true;
      },
      onSubscribe: async (ctx, id, params) => {
        if (Object.keys(ctx.subscriptions).length > limits.maxSubscriptionsPerConnection) {
          return [
            toGraphQLError(
              new GatewayError('RATE_LIMITED', `At most ${limits.maxSubscriptionsPerConnection} subscriptions per connection.`, {
                retryAfterSeconds: 0,
              }),
            ),
          ];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          caller: ctx.extra.caller,
        });
        let document;
        try {
          document = parse(params.query);
        } catch (error) {
          if (error instanceof GraphQLError) return [asBadUserInput(error)];
          throw error;
        }
        const args = {
          schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: await contextFactory(),
          execute,
          subscribe,
        };
        let errors;
        try {
          errors = validate(args.schema, args.document);
        } catch (error) {
          // graphql-armor throws its rejections (cost, depth...): an answer, not a broken connection.
          if (error instanceof GraphQLError) return [asBadUserInput(error)];
          throw error;
        }
        if (errors.length) return errors.map(asBadUserInput);
        args.contextValue.subscriptionSink = sinkFor(ctx.extra.socket, ctx.extra.request.socket, id, ctx.subscriptions, limits.maxBufferedBytes);
        return args;
      },
    },
    wss,
  );
  return {
    wss,
    /** Closes every socket with `code` (1001 when the server goes away). */
    async close(code = 1001, reason = 'Server shutting down') {
      clearInterval(keepAlive);
      clearInterval(revocationCheck);
      keyCache.off('revoked', closeConnectionsOf);
      keyCache.off('suspended', closeConnectionsOfAccount);
      for (const client of wss.clients) client.close(code, reason);
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/**
 * Writes `next` messages of subscription `id` with results serialised once for all their
 * subscribers (see shared-subscriptions.ts), as graphql-ws would write them, while the
 * subscription is still open. The WebSocket frame of a result is made once per subscription id
 * and written as it is to every connection that subscribed with that id. What one turn of the
 * event loop writes to a connection leaves in one system call (the TCP connection is corked
 * until the turn ends): updates handed out together cost one write. A peer with more than
 * `maxBufferedBytes` unread is closed with TOO_SLOW_CLOSE: it resumes from its last cursor, and
 * nothing is held for it meanwhile.
 */
function sinkFor(socket: WebSocket, connection: Socket, id: string, open: Record<string, unknown>, maxBufferedBytes: number): SubscriptionSink {
  const prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  const frameOfNext = (json: string) => textFrame(`${prefix}${json}}`);
  let corked = false;
  const uncork = () => {
    corked = false;
    connection.uncork();
  };
  return {
    write(result: SerialisedResult) {
      if (!(id in open) || socket.readyState !== socket.OPEN) return true;
      if (!corked) {
        // What earlier turns wrote and the peer has not taken yet; not what this turn writes.
        if (socket.bufferedAmount > maxBufferedBytes) {
          socket.close(TOO_SLOW_CLOSE.code, TOO_SLOW_CLOSE.reason);
          return true;
        }
        corked = true;
        connection.cork();
        process.nextTick(uncork);
      }
      // Beside ws's own writes on the same connection, in order: the server does not compress
      // (no permessage-deflate), so ws never holds a frame back in a queue of its own.
      connection.write(result.encoded(id, frameOfNext));
      return true;
    },
  };
}

type FrameOptions = { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean };
/** ws's own framing (`Sender.frame`, public in ws but missing from its type definitions). */
const frame = (wsModule as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } }).Sender.frame;

/** An unmasked, unfragmented text frame, as a server sends it. */
function textFrame(text: string): Buffer {
  return Buffer.concat(frame(Buffer.from(text), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
}

import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import * as wsModule from 'ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { authenticate } from '../accounts/auth.ts';
import type { Caller } from '../accounts/caller.ts';
import { keyCacheOf } from '../accounts/key-cache.ts';
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

/**
 * GraphQL over WebSocket (graphql-transport-ws) on the GraphQL path. Operations run through
 * yoga's envelop, so error masking and every plugin apply as they do over HTTP. The API key
 * comes in `connection_init`: missing closes with 4401, invalid with 4403. Dead peers are
 * found by pings; connections of a revoked key are closed within a revocation check period.
 */
export function attachWebSocket(httpServer: Server, yoga: GraphQLServer, services: Services) {
  const limits = services.config.websocket;
  // No permessage-deflate: subscription frames are written to the connection as they are (sinkFor).
  const wss = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint, maxPayload: 1024 * 1024, perMessageDeflate: false });
  const callers = new Map<WebSocket, Caller>();
  const connectionsPerKey = new Map<string, number>();
  const alive = new WeakSet<WebSocket>();

  wss.on('connection', (socket) => {
    services.metrics.websockets.inc();
    alive.add(socket);
    socket.on('pong', () => alive.add(socket));
    socket.on('close', () => {
      services.metrics.websockets.dec();
      const caller = callers.get(socket);
      if (!caller) return;
      callers.delete(socket);
      connectionsPerKey.set(caller.apiKeyId, (connectionsPerKey.get(caller.apiKeyId) ?? 1) - 1);
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
  // Revocations are announced as they commit; the periodic check below covers a missed one.
  const keyCache = keyCacheOf(services.db);
  keyCache.on('revoked', closeConnectionsOf);

  // One query per period for every connection of this process, whatever their number.
  const revocationCheck = setInterval(() => {
    const keyIds = [...new Set([...callers.values()].map((c) => c.apiKeyId))];
    if (keyIds.length === 0) return;
    services.db.apiKey
      .findMany({ where: { id: { in: keyIds }, revokedAt: { not: null } }, select: { id: true } })
      .then((revoked) => {
        for (const key of revoked) closeConnectionsOf(key.id);
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
          caller = await authenticate(services.db, header);
        } catch (error) {
          if (error instanceof GatewayError) return false;
          throw error;
        }
        // The peer may have gone while its key was checked; its close was already handled.
        if (socket.readyState !== socket.OPEN) return false;
        const open = connectionsPerKey.get(caller.apiKeyId) ?? 0;
        if (open >= limits.maxConnectionsPerKey) {
          socket.close(TOO_MANY_CONNECTIONS_CLOSE.code, TOO_MANY_CONNECTIONS_CLOSE.reason);
          return false;
        }
        connectionsPerKey.set(caller.apiKeyId, open + 1);
        callers.set(socket, caller);
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

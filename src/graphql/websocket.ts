import type { Server } from 'node:http';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { authenticate, type Caller } from '../accounts/auth.ts';
import type { Services } from '../services.ts';
import { GatewayError } from './errors.ts';
import type { GraphQLServer } from './yoga.ts';

type Extra = { caller?: Caller };

/**
 * GraphQL over WebSocket (graphql-transport-ws) on the GraphQL path. Operations run through
 * yoga's envelop, so error masking and every plugin apply as they do over HTTP. The API key
 * comes in `connection_init`: missing closes with 4401, invalid with 4403.
 */
export function attachWebSocket(httpServer: Server, yoga: GraphQLServer, services: Services) {
  const wss = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint });
  const disposable = useServer<Record<string, unknown>, Extra>(
    {
      execute: (args) => (args as unknown as { execute: (a: unknown) => unknown }).execute(args) as never,
      subscribe: (args) => (args as unknown as { subscribe: (a: unknown) => unknown }).subscribe(args) as never,
      onConnect: async (ctx) => {
        const header = ctx.connectionParams?.authorization;
        if (typeof header !== 'string' || !header.trim()) {
          ctx.extra.socket.close(CloseCode.Unauthorized, 'Unauthorized: send {"authorization": "Bearer <api key>"}');
          return false;
        }
        try {
          ctx.extra.caller = await authenticate(services.db, header);
          return true;
        } catch (error) {
          if (error instanceof GatewayError) return false;
          throw error;
        }
      },
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
          caller: ctx.extra.caller,
        });
        const args = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          execute,
          subscribe,
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wss,
  );
  return {
    wss,
    /** Closes every socket with `code` (1001 when the server goes away). */
    async close(code = 1001, reason = 'Server shutting down') {
      for (const client of wss.clients) client.close(code, reason);
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

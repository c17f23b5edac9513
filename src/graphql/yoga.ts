import { GraphQLError } from 'graphql';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { authenticate, type Caller } from '../accounts/auth.ts';
import type { Services } from '../services.ts';
import { createContext, type GraphQLContext } from './context.ts';
import { GatewayError } from './errors.ts';
import { schema } from './schema.ts';

/** What each transport hands the context factory: an HTTP request, or a caller that a WebSocket already authenticated. */
export type ServerContext = { caller?: Caller; requestId?: string };

export type GraphQLServer = YogaServerInstance<ServerContext, GraphQLContext>;

export function createGraphQLServer(services: Services): GraphQLServer {
  const { logger, config } = services;
  return createYoga<ServerContext, GraphQLContext>({
    schema,
    logging: false,
    graphiql: config.production ? false : { subscriptionsProtocol: 'WS', title: 'SMS gateway' },
    landingPage: false,
    context: async (initial) => {
      const caller = initial.caller ?? (await authenticate(services.db, initial.request.headers.get('authorization')));
      return createContext(services, caller);
    },
    maskedErrors: {
      maskError(error: unknown): Error {
        const original = error instanceof GraphQLError ? error.originalError : error;
        if (original instanceof GatewayError) return error as GraphQLError;
        if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) {
          // Parse, validation and argument coercion errors: the client sent something malformed.
          return error.extensions.code
            ? error
            : new GraphQLError(error.message, {
                nodes: error.nodes,
                source: error.source,
                positions: error.positions,
                path: error.path,
                extensions: { ...error.extensions, code: 'BAD_USER_INPUT' },
              });
        }
        logger.error({ err: original ?? error, path: error instanceof GraphQLError ? error.path : undefined }, 'unexpected error');
        return new GraphQLError('Internal server error.', {
          path: error instanceof GraphQLError ? error.path : undefined,
          extensions: { code: 'INTERNAL_ERROR' },
        });
      },
    },
  });
}

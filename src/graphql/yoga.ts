import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { GraphQLError, NoSchemaIntrospectionCustomRule } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { authenticate } from '../accounts/auth.ts';
import type { Caller } from '../accounts/caller.ts';
import { createOriginGuard } from '../accounts/origins.ts';
import type { Services } from '../services.ts';
import { createContext, type GraphQLContext } from './context.ts';
import { GatewayError } from '../shared/errors.ts';
import { asBadUserInput, gatewayErrorOf, toGraphQLError } from './errors.ts';
import { useComplexityLimit } from './complexity.ts';
import { useContractCodesForMalformedRequests, useOperationMetrics } from './plugins.ts';
import { useSharedSubscriptionExecution } from './shared-subscriptions.ts';
import { schema } from './schema.ts';

/**
 * Limits on the shape of an operation; the limits themselves are not revealed in errors.
 * Tokens: an inline list of 10,000 recipients is legitimate (variables do not count). What an
 * operation may cost is counted by useComplexityLimit (complexity.ts), which knows the lists
 * and reads the variables; armor's own cost count does neither.
 */
const ARMOR = {
  maxDepth: { n: 8, exposeLimits: false, flattenFragments: true },
  costLimit: { enabled: false },
  maxAliases: { n: 15, exposeLimits: false },
  maxDirectives: { n: 20, exposeLimits: false },
  maxTokens: { n: 25_000, exposeLimits: false },
  blockFieldSuggestion: { enabled: true },
};

/**
 * Every request must carry its API key; one without is refused before parsing, with the
 * contract's code. (It also keeps browsers from sending "simple" cross-site requests: the
 * Authorization header always needs a CORS preflight.)
 */
function useAuthorizationHeaderRequired(): Plugin {
  return {
    onRequestParse({ request }) {
      if (!request.headers.get('authorization')?.trim()) {
        throw new GatewayError('AUTHENTICATION_REQUIRED', 'An API key is required: send "Authorization: Bearer <api key>".');
      }
    },
  };
}

/**
 * No introspection in production, over every transport: a validation rule, so it holds for
 * operations over WebSocket and the direct HTTP path too (yoga's own plugin decides per HTTP
 * request, in a hook neither of those runs).
 */
function useNoIntrospection(): Plugin {
  return {
    onValidate({ addValidationRule }) {
      addValidationRule(NoSchemaIntrospectionCustomRule);
    },
  };
}

/** What each transport hands the context factory: an HTTP request, or a caller that a WebSocket already authenticated. */
export type ServerContext = { caller?: Caller; requestId?: string };

export type GraphQLServer = YogaServerInstance<ServerContext, GraphQLContext>;

export function createGraphQLServer(services: Services): GraphQLServer {
  const { logger, config } = services;
  const origins = createOriginGuard();
  return createYoga<ServerContext, GraphQLContext>({
    schema,
    cors: origins.cors,
    logging: false,
    graphiql: config.production ? false : { subscriptionsProtocol: 'WS', title: 'SMS gateway' },
    landingPage: false,
    plugins: [
      useAuthorizationHeaderRequired(),
      useCSRFPrevention({ requestHeaders: ['authorization'] }),
      EnvelopArmorPlugin(ARMOR),
      useContractCodesForMalformedRequests(),
      useComplexityLimit(),
      ...(config.production ? [useNoIntrospection()] : []),
      useOperationMetrics(services.metrics),
      useSharedSubscriptionExecution(),
    ],
    context: async (initial) => {
      if (initial.caller) return createContext(services, initial.caller);
      const caller = await authenticate(services.db, initial.request.headers.get('authorization'), services.accessTokens);
      origins.admit(initial.request, caller);
      return createContext(services, caller);
    },
    maskedErrors: { maskError: errorMask(logger) },
  });
}

/**
 * What a client may see of an error: a gateway error with its code and details, a malformed
 * request as BAD_USER_INPUT, anything else as INTERNAL_ERROR (its details only in the log).
 */
export function errorMask(logger: Services['logger']): (error: unknown) => GraphQLError {
  return (error) => {
    const gatewayError = gatewayErrorOf(error);
    if (gatewayError) return toGraphQLError(gatewayError, error instanceof GraphQLError ? error : undefined);
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (error instanceof GraphQLError && (!original || original instanceof GraphQLError)) {
      return asBadUserInput(error);
    }
    logger.error({ err: original ?? error, path: error instanceof GraphQLError ? error.path : undefined }, 'unexpected error');
    return new GraphQLError('Internal server error.', {
      path: error instanceof GraphQLError ? error.path : undefined,
      extensions: { code: 'INTERNAL_ERROR' },
    });
  };
}

import { GraphQLError } from 'graphql';
import { GatewayError, isErrorCode, type ErrorCode } from '../shared/errors.ts';

/** Codes whose HTTP answer is not 200; read by graphql-yoga from `extensions.http`. */
const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  AUTHENTICATION_REQUIRED: 401,
  INVALID_API_KEY: 401,
  TOKEN_EXPIRED: 401,
  ORIGIN_NOT_ALLOWED: 403,
};

/**
 * The GraphQL form of a gateway error: the code and details in `extensions`, the HTTP status
 * where the code has one. `located` is the error graphql-js made of it during execution, whose
 * path and locations are kept.
 */
export function toGraphQLError(error: GatewayError, located?: GraphQLError): GraphQLError {
  const status = HTTP_STATUS[error.code];
  return new GraphQLError(error.message, {
    nodes: located?.nodes,
    source: located?.source,
    positions: located?.positions,
    path: located?.path,
    originalError: error,
    extensions: { code: error.code, ...(status ? { http: { status } } : {}), ...error.details },
  });
}

/** The gateway error behind `error`, thrown as is or wrapped by graphql-js. */
export function gatewayErrorOf(error: unknown): GatewayError | undefined {
  if (error instanceof GatewayError) return error;
  if (error instanceof GraphQLError && error.originalError) return gatewayErrorOf(error.originalError);
  return undefined;
}

/**
 * A parse, validation or coercion error: the client sent something malformed. Codes of the
 * libraries (GRAPHQL_PARSE_FAILED, BAD_REQUEST...) become the contract's BAD_USER_INPUT and
 * stay readable as `reason`.
 */
export function asBadUserInput(error: GraphQLError): GraphQLError {
  const { code, ...extensions } = error.extensions;
  if (isErrorCode(code)) return error;
  return new GraphQLError(error.message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    extensions: { ...extensions, code: 'BAD_USER_INPUT', ...(typeof code === 'string' ? { reason: code } : {}) },
  });
}

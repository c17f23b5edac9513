import { GraphQLError } from 'graphql';

/** Every code a client may see in `extensions.code` (see CONTRACT.md). */
export const ERROR_CODES = [
  'AUTHENTICATION_REQUIRED',
  'INVALID_API_KEY',
  'INSUFFICIENT_PERMISSIONS',
  'MISSING_MESSAGE',
  'MISSING_RECIPIENTS',
  'INVALID_PHONE_FORMAT',
  'NO_VALID_RECIPIENTS',
  'MESSAGE_TOO_LONG',
  'INVALID_SENDER_ID',
  'INVALID_SCHEDULE_TIME',
  'INSUFFICIENT_BALANCE',
  'DUPLICATE_REFERENCE',
  'MESSAGE_NOT_FOUND',
  'PROVIDER_NOT_FOUND',
  'NO_ROUTE',
  'RATE_LIMITED',
  'SMS_SEND_FAILED',
  'INVALID_WEBHOOK_URL',
  'MESSAGE_NOT_CANCELLABLE',
  'BAD_USER_INPUT',
  'INTERNAL_ERROR',
  // Added here: a cursor from before the event log's retention window.
  'CURSOR_EXPIRED',
  // Accounts, keys and sub-accounts (CONTRACT.md, third round).
  'TOKEN_EXPIRED',
  'ORIGIN_NOT_ALLOWED',
  'ACCOUNT_NOT_FOUND',
  'ACCOUNT_SUSPENDED',
  'INVALID_AMOUNT',
  // Added here: revokeApiKey with an id that is none of the caller's keys.
  'API_KEY_NOT_FOUND',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  AUTHENTICATION_REQUIRED: 401,
  INVALID_API_KEY: 401,
  TOKEN_EXPIRED: 401,
  ORIGIN_NOT_ALLOWED: 403,
};

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** An error a client is meant to read: its message and extensions pass error masking. */
export class GatewayError extends GraphQLError {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}) {
    const status = HTTP_STATUS[code];
    super(message, { extensions: { code, ...(status ? { http: { status } } : {}), ...extensions } });
    this.code = code;
  }
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

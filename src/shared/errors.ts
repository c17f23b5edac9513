/** Every code a client may see (see CONTRACT.md); the transports carry it, the domains choose it. */
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
  // Added here (adaptive routing): reportConversion with an id that is none of the caller's
  // deliveries, or of a delivery no provider took.
  'DELIVERY_NOT_FOUND',
  'DELIVERY_NOT_SENT',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/**
 * An error a caller is meant to read: its code, its message and the details that explain it
 * (limits, offending values) all reach the client; graphql/errors.ts says how.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
    this.details = details;
  }
}

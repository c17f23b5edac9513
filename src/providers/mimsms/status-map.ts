import type { StatusMapping } from '../types.ts';

/**
 * Every status word and error code of the MiM SMS document (provider-docs/001, "Response Status
 * Codes" and "Common Error Codes"), mapped to ours. A code and a word that name the same problem
 * (1003 and insufficient_balance...) get the same errorCode, so a delivery reads alike whichever
 * way MiM said it. The names keep AUTH/KEY/CREDENTIAL in them where they concern our
 * credentials: the dispatcher's health check recognises a provider-wide failure by those.
 */
export const MIMSMS_STATUSES: Record<string, StatusMapping> = {
  success: progress('SENT'),
  sent: progress('SENT'),
  accepted: progress('SENT'),
  delivered: progress('DELIVERED'),
  // "SMS sending failed" says nothing about why: worth another try when it answers a submission.
  failed: { status: 'FAILED', errorCode: 'MIMSMS_FAILED', errorMessage: 'MiM SMS could not deliver the message', permanent: false },
  rejected: refuse('REJECTED', 'MIMSMS_REJECTED', 'SMS rejected by provider'),
  error: { status: 'FAILED', errorCode: 'MIMSMS_ERROR', errorMessage: 'General error occurred', permanent: false },
  invalid_phone: refuse('REJECTED', 'MIMSMS_INVALID_PHONE', 'Invalid phone number'),
  insufficient_balance: { ...refuse('FAILED', 'MIMSMS_INSUFFICIENT_BALANCE', 'Insufficient account balance'), outOfCredit: true },
  invalid_sender_id: refuse('REJECTED', 'MIMSMS_INVALID_SENDER_ID', 'Invalid sender ID'),
  authentication_failed: refuse('FAILED', 'MIMSMS_AUTHENTICATION_FAILED', 'Authentication failed'),
};

/** `error_code` values; rate limiting and unavailability pass, the rest need someone to act. */
export const MIMSMS_ERRORS: Record<string, StatusMapping> = {
  '1001': refuse('FAILED', 'MIMSMS_INVALID_API_KEY', 'Invalid API key'),
  '1002': refuse('FAILED', 'MIMSMS_INVALID_CREDENTIALS', 'Invalid username/password'),
  '1003': MIMSMS_STATUSES.insufficient_balance!,
  '1004': MIMSMS_STATUSES.invalid_phone!,
  '1005': MIMSMS_STATUSES.invalid_sender_id!,
  '1006': refuse('REJECTED', 'MIMSMS_MESSAGE_TOO_LONG', 'Message too long'),
  '1007': { status: 'FAILED', errorCode: 'MIMSMS_RATE_LIMITED', errorMessage: 'Rate limit exceeded', permanent: false },
  '1008': { status: 'FAILED', errorCode: 'MIMSMS_SERVICE_UNAVAILABLE', errorMessage: 'Service temporarily unavailable', permanent: false },
};

export const MIMSMS_RATE_LIMIT_CODE = '1007';

/** What an answer this gateway cannot read means: a failure worth another try. */
export const MIMSMS_UNKNOWN: StatusMapping = {
  status: 'FAILED',
  errorCode: 'MIMSMS_UNKNOWN',
  errorMessage: 'MiM SMS answered with a code this gateway does not know',
  permanent: false,
};

function progress(status: 'SENT' | 'DELIVERED'): StatusMapping {
  return { status, errorCode: null, errorMessage: null, permanent: false };
}

function refuse(status: 'FAILED' | 'REJECTED', errorCode: string, errorMessage: string): StatusMapping {
  return { status, errorCode, errorMessage, permanent: true };
}

export function mapMimsmsStatus(word: string): StatusMapping | undefined {
  return Object.hasOwn(MIMSMS_STATUSES, word.toLowerCase()) ? MIMSMS_STATUSES[word.toLowerCase()] : undefined;
}

/** MiM sends its codes as strings ("1003"); a number is read the same way. */
export function mapMimsmsError(code: string | number): StatusMapping | undefined {
  const key = String(code).trim();
  return Object.hasOwn(MIMSMS_ERRORS, key) ? MIMSMS_ERRORS[key] : undefined;
}

/** A status word or an error code, whichever `raw` is. */
export function mapMimsms(raw: string): StatusMapping | undefined {
  return /^\d+$/.test(raw.trim()) ? mapMimsmsError(raw) : mapMimsmsStatus(raw);
}

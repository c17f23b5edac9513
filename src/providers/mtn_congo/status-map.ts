import type { StatusMapping } from '../types.ts';

/**
 * The document shows no answers, so these words are ours (see adapter.ts): the `status` of each
 * entry of `receivers` in status answers and callbacks.
 */
export const MTN_CONGO_STATUSES = {
  /** Accepted, waiting for its `date_envois` or its turn. */
  en_attente: inFlight(),
  /** Handed to the network, no report yet. */
  envoye: inFlight(),
  delivre: { status: 'DELIVERED', errorCode: null, errorMessage: null, permanent: false },
  echec: failure('FAILED', 'MTN_CONGO_UNDELIVERED', 'MTN Congo could not deliver the message'),
  rejete: failure('REJECTED', 'MTN_CONGO_REJECTED', 'MTN Congo refused the message for this receiver'),
  expire: failure('EXPIRED', 'MTN_CONGO_EXPIRED', 'The message expired before it could be delivered'),
} satisfies Record<string, StatusMapping>;

export type MtnCongoStatus = keyof typeof MTN_CONGO_STATUSES;

/**
 * A status word we do not know changes nothing: the delivery stays SENT (the adapter logs the
 * word) and the status poll keeps asking until a known one comes or the report timeout ends it.
 */
export const MTN_CONGO_UNKNOWN_STATUS: StatusMapping = inFlight();

/**
 * `code` of refused requests (our error answer `{"status": "error", "code", "message"}`).
 * Permanent ones are the request's fault or ours (token, configuration): retrying cannot help.
 */
export const MTN_CONGO_ERRORS: Record<string, StatusMapping> = {
  AUTHENTICATION_REQUIRED: failure('FAILED', 'MTN_CONGO_AUTHENTICATION_REQUIRED', 'The Authorization header is missing or not "Token <token>"'),
  INVALID_TOKEN: failure('FAILED', 'MTN_CONGO_INVALID_TOKEN', 'MTN Congo does not accept the token'),
  UNSUPPORTED_MEDIA_TYPE: failure('FAILED', 'MTN_CONGO_UNSUPPORTED_MEDIA_TYPE', 'MTN Congo takes JSON only'),
  INVALID_JSON: failure('FAILED', 'MTN_CONGO_INVALID_JSON', 'The request body is not a JSON object'),
  MISSING_MSG: failure('REJECTED', 'MTN_CONGO_MISSING_MSG', 'The message text is empty'),
  MISSING_SENDER: failure('REJECTED', 'MTN_CONGO_MISSING_SENDER', 'The sender is missing'),
  MISSING_RECEIVERS: failure('REJECTED', 'MTN_CONGO_MISSING_RECEIVERS', 'The request has no receivers'),
  INVALID_RECEIVERS: failure('REJECTED', 'MTN_CONGO_INVALID_RECEIVERS', 'MTN Congo does not take this number'),
  INVALID_PARAMS: failure('REJECTED', 'MTN_CONGO_INVALID_PARAMS', 'The personalisation lines (params) are not valid'),
  INVALID_DATE: failure('REJECTED', 'MTN_CONGO_INVALID_DATE', 'date_envois is not a date'),
  INVALID_EXTERNAL_ID: failure('FAILED', 'MTN_CONGO_INVALID_EXTERNAL_ID', 'externalId must be a string or a number'),
  INVALID_CALLBACK_URL: failure('FAILED', 'MTN_CONGO_INVALID_CALLBACK_URL', 'callback_url is not an http(s) URL'),
  UNKNOWN_OP: failure('FAILED', 'MTN_CONGO_UNKNOWN_OP', 'MTN Congo does not know this operation'),
  MISSING_ID: failure('FAILED', 'MTN_CONGO_MISSING_ID', 'The status check has no id'),
  NOT_FOUND: failure('FAILED', 'MTN_CONGO_NOT_FOUND', 'MTN Congo knows no submission with this id'),
};

export const MTN_CONGO_UNKNOWN_ERROR: StatusMapping = {
  status: 'FAILED',
  errorCode: 'MTN_CONGO_UNKNOWN',
  errorMessage: 'MTN Congo refused the request with an answer this gateway does not know',
  permanent: false,
};

/** Not MTN's: the receivers of a request that was refused for another receiver's number; they are sent again without it. */
export const MTN_CONGO_REFUSED_WITH_OTHERS: StatusMapping = {
  status: 'FAILED',
  errorCode: 'MTN_CONGO_REFUSED_WITH_OTHERS',
  errorMessage: 'MTN Congo refused the request because of another receiver in it',
  permanent: false,
};

/** Tolerates case, accents, spaces and hyphens (`Délivré`, `EN ATTENTE`): the real words are not documented. */
export function statusKey(raw: string): string {
  return raw
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[\s-]+/g, '_');
}

export function lookupMtnCongoStatus(raw: string): StatusMapping | undefined {
  const key = statusKey(raw);
  return Object.hasOwn(MTN_CONGO_STATUSES, key) ? MTN_CONGO_STATUSES[key as MtnCongoStatus] : undefined;
}

export function lookupMtnCongoError(code: string | undefined): StatusMapping | undefined {
  return code !== undefined && Object.hasOwn(MTN_CONGO_ERRORS, code) ? MTN_CONGO_ERRORS[code] : undefined;
}

function inFlight(): StatusMapping {
  return { status: 'SENT', errorCode: null, errorMessage: null, permanent: false };
}

function failure(status: 'FAILED' | 'REJECTED' | 'EXPIRED', errorCode: string, errorMessage: string): StatusMapping {
  return { status, errorCode, errorMessage, permanent: true };
}

import type { StatusMapping } from '../types.ts';

/**
 * Every status and error code of the Mifumo document, mapped to ours. Statuses appear in send
 * answers, status answers (`delivery_details[].status`) and webhooks (`status`, `event`).
 */
export const MIFUMO_STATUSES: Record<string, StatusMapping> = {
  pending: { status: 'SENT', errorCode: null, errorMessage: null, permanent: false },
  sent: { status: 'SENT', errorCode: null, errorMessage: null, permanent: false },
  delivered: { status: 'DELIVERED', errorCode: null, errorMessage: null, permanent: false },
  failed: { status: 'FAILED', errorCode: 'MIFUMO_FAILED', errorMessage: 'Mifumo could not deliver the message', permanent: true },
};

export const MIFUMO_EVENTS: Record<string, string> = {
  'message.sent': 'sent',
  'message.delivered': 'delivered',
  'message.failed': 'failed',
};

/** `error_code` values of failed requests. Permanent ones are the request's fault, or ours (credentials). */
export const MIFUMO_ERRORS: Record<string, StatusMapping> = {
  AUTHENTICATION_REQUIRED: reject('MIFUMO_AUTHENTICATION_REQUIRED', 'Missing or invalid Authorization header', 'FAILED'),
  INVALID_API_KEY: reject('MIFUMO_INVALID_API_KEY', 'API key is invalid or expired', 'FAILED'),
  INSUFFICIENT_PERMISSIONS: reject('MIFUMO_INSUFFICIENT_PERMISSIONS', "API key doesn't have required permissions", 'FAILED'),
  MISSING_MESSAGE: reject('MIFUMO_MISSING_MESSAGE', 'Message text is required', 'REJECTED'),
  MISSING_RECIPIENTS: reject('MIFUMO_MISSING_RECIPIENTS', 'Recipients list is required', 'REJECTED'),
  INVALID_PHONE_FORMAT: reject('MIFUMO_INVALID_PHONE_FORMAT', 'Phone number format is invalid', 'REJECTED'),
  NO_VALID_RECIPIENTS: reject('MIFUMO_NO_VALID_RECIPIENTS', 'No valid recipients found', 'REJECTED'),
  MESSAGE_NOT_FOUND: reject('MIFUMO_MESSAGE_NOT_FOUND', 'Message ID not found', 'FAILED'),
  // "Failed to send SMS" says nothing about why: worth another try before giving up.
  SMS_SEND_FAILED: { status: 'FAILED', errorCode: 'MIFUMO_SMS_SEND_FAILED', errorMessage: 'Failed to send SMS', permanent: false },
  INTERNAL_ERROR: { status: 'FAILED', errorCode: 'MIFUMO_INTERNAL_ERROR', errorMessage: 'Internal server error', permanent: false },
};

export const MIFUMO_UNKNOWN: StatusMapping = {
  status: 'FAILED',
  errorCode: 'MIFUMO_UNKNOWN',
  errorMessage: 'Mifumo answered with a code this gateway does not know',
  permanent: false,
};

function reject(errorCode: string, errorMessage: string, status: 'FAILED' | 'REJECTED'): StatusMapping {
  return { status, errorCode, errorMessage, permanent: true };
}

export function mapMifumoStatus(status: string): StatusMapping | undefined {
  const key = status.toLowerCase();
  return Object.hasOwn(MIFUMO_STATUSES, key) ? MIFUMO_STATUSES[key] : undefined;
}

export function mapMifumoError(code: string | null | undefined): StatusMapping {
  return code && Object.hasOwn(MIFUMO_ERRORS, code) ? MIFUMO_ERRORS[code]! : MIFUMO_UNKNOWN;
}

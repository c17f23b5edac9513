/**
 * MiM SMS, Bangladesh (provider-docs/001): every call is a JSON POST carrying api_key, username
 * and password in its body; POST /send-sms (one `phone` per request), POST /status with a
 * message_id, POST /balance. No callbacks: reports are polled.
 *
 * Choices where the document is silent or contradicts itself:
 * - One recipient per request, so maxBatchSize is 1. A direct caller passing several gets them
 *   sent one after another (never more than MiM's 100 requests a minute would allow anyway).
 * - Numbers go out in the international form without '+' (8801712345678), as in the example.
 *   Only Bangladesh mobile numbers (+880 1[3-9] and 8 digits) are sent: the validation rules say
 *   "Must be valid Bangladesh mobile number", although the pricing section mentions international
 *   SMS. Any other recipient fails permanently without a call (MIMSMS_UNSUPPORTED_RECIPIENT,
 *   REJECTED), so the delivery moves on to the next provider of its route.
 * - `priority: "normal"` is sent: the example has it and the document names no other value nor
 *   says it may be left out. `schedule_time` is not sent; the gateway schedules itself.
 * - Texts over 160 characters are not routed here: the document advises "under 160 characters"
 *   and has an error 1006 "Message too long" without a limit, so we take 160 as that limit (and
 *   1006 stays permanent should MiM judge otherwise).
 * - The document gives no HTTP status codes. A body with `error_code` is a failed request,
 *   mapped by its code whatever the HTTP status; otherwise 429 and 5xx are the gateway's usual
 *   PROVIDER_RATE_LIMITED / PROVIDER_ERROR; otherwise the body's `status` word decides.
 * - A code and a word naming the same problem share one errorCode (1003 and
 *   insufficient_balance are both MIMSMS_INSUFFICIENT_BALANCE). 1007 (rate limit), 1008
 *   (unavailable), `error` and `failed` at submission are retried; credentials, balance, phone,
 *   sender, length and `rejected` are permanent. Unknown codes and words are retried
 *   (MIMSMS_UNKNOWN) and logged with their raw value.
 * - Rate limiting (HTTP 429 or 1007): the wait is Retry-After when given, else until
 *   X-RateLimit-Reset (a Unix time in seconds, as in the document's example). The rest of the
 *   same call is not attempted once MiM asked us to slow down.
 * - In /status answers, `error` is MiM not answering about that message (unknown id...), not
 *   the message's fate: the delivery is left out and polled again. `delivered`, `failed`,
 *   `rejected` and the invalid_* words are final; `success`, `sent`, `accepted` are not.
 *   `delivery_time` is read as Bangladesh time (UTC+06:00), the zone of the document's hours.
 * - The document's 100 requests a minute, 1000 an hour and 10000 a day count every endpoint:
 *   requests are paced at 50 a minute (maxRequestsPerSecond), 950 an hour and 9500 a day
 *   (quotas), leaving room for `providers status`, which is not paced.
 * - 1003 and `insufficient_balance` say our MiM account is out of credit: routing skips MiM
 *   until its balance is read above the warning threshold again.
 * - Reports are first polled 30 s after submission, with at most 4 status requests in flight.
 *   fetchStatus throws only when none of its requests got an answer; otherwise the ones that
 *   failed are left out (polled again later) and logged.
 * - Balance: the amount is taken as written in the answer, not through a float.
 * - MiM has no field for our reference: a submission whose answer is lost (timeout, garbled
 *   body) is retried and may reach the recipient twice.
 */
import { isFinal } from '../../deliveries/status.ts';
import { failAll, httpFailure, httpJson, PACED, retryAfterMs, transportFailure, type HttpResult } from '../http.ts';
import type { Logger } from '../../logger.ts';
import type { OutboundSms, ProviderDeps, SmsProvider, StatusQuery, StatusReport, SubmitBatch, SubmitOutcome } from '../types.ts';
import { mapMimsmsError, mapMimsmsStatus, MIMSMS_ERRORS, MIMSMS_RATE_LIMIT_CODE, MIMSMS_UNKNOWN } from './status-map.ts';
import { parseMimTime } from './time.ts';
import pMap from 'p-map';

export const MIMSMS_PATHS = { send: '/send-sms', status: '/status', balance: '/balance' } as const;

export type MimsmsConfig = { baseUrl: string; apiKey: string; username: string; password: string };

/** MiM allows 100 requests a minute over all endpoints: half for submissions, the rest for status polls. */
const SUBMISSIONS_PER_MINUTE = 50;
/** The hour's 1000 and the day's 10000 count every request too; a little is left for `providers status`. */
const MIMSMS_QUOTAS = [
  { requests: 950, seconds: 3600 },
  { requests: 9500, seconds: 86_400 },
];
/** The document's only length ("keep messages under 160 characters"); longer ones get 1006. */
export const MIMSMS_MAX_TEXT = 160;
const STATUS_CONCURRENCY = 4;
const BANGLADESH_MOBILE_E164 = /^\+8801[3-9]\d{8}$/;
const RATE_LIMITED_CODES = new Set(['PROVIDER_RATE_LIMITED', PACED, MIMSMS_ERRORS[MIMSMS_RATE_LIMIT_CODE]!.errorCode]);

type MimBody = {
  status: string;
  message_id?: unknown;
  error_code?: unknown;
  error_message?: unknown;
  error?: unknown;
  delivery_time?: unknown;
  currency?: unknown;
};

type Failure = {
  permanent: boolean;
  status: 'FAILED' | 'REJECTED';
  errorCode: string;
  errorMessage: string;
  retryAfterMs?: number;
  ambiguous?: true;
  outOfCredit?: true;
  raw?: unknown;
};

/** MiM's answer to one request: its body when it answered in its own words, else why not. */
type Answer = { ok: true; body: MimBody; text: string } | { ok: false; failure: Failure };

/** What one status request gave: a final report, nothing new, a failure, or not asked (slowed down). */
type StatusResult = { report?: StatusReport; failure?: Failure; skipped?: true };

/** The number as MiM wants it, or undefined when MiM cannot send to it. */
export function toMimsmsPhone(e164: string): string | undefined {
  return BANGLADESH_MOBILE_E164.test(e164) ? e164.slice(1) : undefined;
}

export function createMimsmsProvider(config: MimsmsConfig, deps: ProviderDeps): SmsProvider {
  const base = config.baseUrl.replace(/\/+$/, '');
  const credentials = { api_key: config.apiKey, username: config.username, password: config.password };
  const ask = async (path: string, fields: Record<string, string> = {}): Promise<Answer> =>
    readAnswer(
      await httpJson({ method: 'POST', url: `${base}${path}`, body: { ...credentials, ...fields }, timeoutMs: deps.timeoutMs, pace: deps.pace }),
      path,
      deps.logger,
    );

  async function sendOne(senderId: string, item: OutboundSms, phone: string): Promise<SubmitOutcome> {
    const answer = await ask(MIMSMS_PATHS.send, { sender_id: senderId, phone, message: item.text, priority: 'normal' });
    if (!answer.ok) return failed(item, answer.failure);
    const { body } = answer;
    const mapped = mapMimsmsStatus(body.status);
    if (mapped?.status === 'SENT' || mapped?.status === 'DELIVERED') {
      const messageId = idOf(body.message_id);
      if (messageId) return { deliveryId: item.deliveryId, outcome: 'accepted', providerMessageId: messageId, raw: body };
      return failed(item, badResponse(`MiM SMS answered "${body.status}" without a message_id`, body));
    }
    return failed(item, refusal(body, MIMSMS_PATHS.send, deps.logger));
  }

  async function statusOf(query: StatusQuery): Promise<StatusResult> {
    const answer = await ask(MIMSMS_PATHS.status, { message_id: query.providerMessageId });
    if (!answer.ok) return { failure: answer.failure };
    const { body } = answer;
    const answeredId = idOf(body.message_id);
    if (answeredId && answeredId !== query.providerMessageId) {
      deps.logger.warn({ asked: query.providerMessageId, answered: answeredId }, 'MiM SMS answered about another message');
      return {};
    }
    if (body.status.toLowerCase() === 'error') {
      deps.logger.warn({ providerMessageId: query.providerMessageId, error: textOf(body.error) }, 'MiM SMS has no status for this message');
      return {};
    }
    const mapped = mapMimsmsStatus(body.status);
    if (!mapped) {
      deps.logger.warn({ providerMessageId: query.providerMessageId, status: body.status }, 'MiM SMS answered with a status this gateway does not know');
      return {};
    }
    if (!isFinal(mapped.status)) return {};
    const at = typeof body.delivery_time === 'string' ? parseMimTime(body.delivery_time) : undefined;
    return {
      report: {
        deliveryId: query.deliveryId,
        status: mapped.status,
        errorCode: mapped.errorCode,
        errorMessage: textOf(body.error) ?? mapped.errorMessage,
        ...(at ? { at } : {}),
        raw: body,
      },
    };
  }

  return {
    name: 'mimsms',
    capabilities: {
      maxBatchSize: 1,
      reports: 'poll',
      firstPollAfterMs: 30_000,
      maxRequestsPerSecond: SUBMISSIONS_PER_MINUTE / 60,
      personalisation: 'rendered',
      scheduling: false,
      recognisesRetries: false,
      quotas: MIMSMS_QUOTAS,
      carries: { maxCharacters: MIMSMS_MAX_TEXT, multipart: true, countries: ['BD'], encodings: ['GSM7', 'UCS2'] },
      balance: true,
    },

    async send(batch: SubmitBatch) {
      const outcomes: SubmitOutcome[] = [];
      let slowDown: Failure | undefined;
      for (const item of batch.items) {
        const phone = toMimsmsPhone(item.recipient);
        if (!phone) {
          outcomes.push(failed(item, unsupportedRecipient(item.recipient)));
        } else if (slowDown) {
          outcomes.push(failed(item, slowDown));
        } else {
          const outcome = await sendOne(batch.senderId, item, phone);
          if (outcome.outcome === 'failed' && isRateLimit(outcome)) slowDown = outcome;
          outcomes.push(outcome);
        }
      }
      return outcomes;
    },

    async fetchStatus(queries: StatusQuery[]) {
      let slowDown = false;
      const results = await pMap(queries, async (query): Promise<StatusResult> => {
        if (slowDown) return { skipped: true };
        const result = await statusOf(query);
        if (result.failure && isRateLimit(result.failure)) slowDown = true;
        return result;
      }, { concurrency: STATUS_CONCURRENCY });
      const failures = results.flatMap((r) => (r.failure ? [r.failure] : []));
      const asked = results.filter((r) => !r.skipped).length;
      if (asked > 0 && failures.length === asked) {
        throw new Error(`MiM SMS status: ${failures[0]!.errorCode}: ${failures[0]!.errorMessage}`);
      }
      if (failures.length > 0) {
        deps.logger.warn({ failed: failures.length, asked, first: failures[0]!.errorCode }, 'MiM SMS status requests failed; polled again later');
      }
      return results.flatMap((r) => (r.report ? [r.report] : []));
    },

    async fetchBalance() {
      const answer = await ask(MIMSMS_PATHS.balance);
      if (!answer.ok) throw new Error(`MiM SMS balance: ${answer.failure.errorCode}: ${answer.failure.errorMessage}`);
      const { body, text } = answer;
      if (body.status.toLowerCase() !== 'success') {
        throw new Error(`MiM SMS balance: "${body.status}" ${textOf(body.error_message) ?? textOf(body.error) ?? ''}`.trim());
      }
      const amount = decimalField(text, 'balance');
      if (amount === undefined) throw new Error(`MiM SMS balance: no balance in ${text.slice(0, 200)}`);
      return { amount, currency: typeof body.currency === 'string' ? body.currency : 'BDT' };
    },
  };
}

/**
 * Sorts an HTTP result into MiM's own answer or the failure of the request: an error code in the
 * body decides first, whatever the HTTP status; then 429 and 5xx; then the body's status word.
 */
function readAnswer(result: HttpResult, path: string, logger: Logger): Answer {
  if (!result.ok) return { ok: false, failure: { ...transportFailure(result), status: 'FAILED' } };
  const json = result.json as Partial<MimBody> | undefined;
  const body = json && typeof json === 'object' && typeof json.status === 'string' ? (json as MimBody) : undefined;
  const hasCode = body?.error_code !== undefined && body.error_code !== null && body.error_code !== '';
  if (body && hasCode) return { ok: false, failure: codeFailure(body, result, path, logger) };
  const overload = httpFailure(result);
  if (overload) {
    const wait = overload.retryAfterMs ?? (result.status === 429 ? rateLimitResetMs(result.headers) : undefined);
    return { ok: false, failure: { ...overload, status: 'FAILED', ...(wait !== undefined ? { retryAfterMs: wait } : {}) } };
  }
  if (body) return { ok: true, body, text: result.text };
  return { ok: false, failure: badResponse(`unreadable answer (HTTP ${result.status})`, result.text.slice(0, 500)) };
}

/** A request MiM refused with one of its numeric codes. */
function codeFailure(body: MimBody, result: Extract<HttpResult, { ok: true }>, path: string, logger: Logger): Failure {
  const code = String(body.error_code);
  const mapped = mapMimsmsError(code);
  if (!mapped) logger.warn({ path, errorCode: code, errorMessage: textOf(body.error_message) }, 'MiM SMS answered with an error code this gateway does not know');
  const mapping = mapped ?? MIMSMS_UNKNOWN;
  const rateLimited = code === MIMSMS_RATE_LIMIT_CODE || result.status === 429;
  const wait = rateLimited ? (retryAfterMs(result.headers) ?? rateLimitResetMs(result.headers)) : undefined;
  return {
    permanent: mapping.permanent,
    status: mapping.status === 'REJECTED' ? 'REJECTED' : 'FAILED',
    errorCode: mapping.errorCode!,
    errorMessage: textOf(body.error_message) ?? textOf(body.error) ?? (mapped ? mapping.errorMessage! : `error code ${code}`),
    ...(wait !== undefined ? { retryAfterMs: wait } : {}),
    ...(mapping.outOfCredit ? { outOfCredit: true as const } : {}),
    raw: body,
  };
}

/** A submission answered with a status word other than acceptance, and no error code. */
function refusal(body: MimBody, path: string, logger: Logger): Failure {
  const mapped = mapMimsmsStatus(body.status);
  const known = mapped && (mapped.status === 'FAILED' || mapped.status === 'REJECTED') ? mapped : undefined;
  if (!known) logger.warn({ path, status: body.status }, 'MiM SMS answered with a status this gateway does not know');
  const mapping = known ?? MIMSMS_UNKNOWN;
  return {
    permanent: mapping.permanent,
    status: mapping.status === 'REJECTED' ? 'REJECTED' : 'FAILED',
    errorCode: mapping.errorCode!,
    errorMessage: textOf(body.error_message) ?? textOf(body.error) ?? (known ? mapping.errorMessage! : `status "${body.status}"`),
    ...(mapping.outOfCredit ? { outOfCredit: true as const } : {}),
    raw: body,
  };
}

function unsupportedRecipient(recipient: string): Failure {
  return {
    permanent: true,
    status: 'REJECTED',
    errorCode: 'MIMSMS_UNSUPPORTED_RECIPIENT',
    errorMessage: `MiM SMS sends to Bangladesh mobile numbers only (+8801...), not ${recipient}`,
  };
}

function badResponse(errorMessage: string, raw: unknown): Failure {
  return { permanent: false, status: 'FAILED', errorCode: 'PROVIDER_BAD_RESPONSE', errorMessage, ambiguous: true, raw };
}

function failed(item: OutboundSms, failure: Failure): SubmitOutcome {
  return failAll([item], failure)[0]!;
}

function isRateLimit(failure: { errorCode: string }): boolean {
  return RATE_LIMITED_CODES.has(failure.errorCode);
}

/** Milliseconds until X-RateLimit-Reset: a Unix time in seconds in the document, or seconds from now when small. */
function rateLimitResetMs(headers: Headers): number | undefined {
  const reset = Number(headers.get('x-ratelimit-reset') ?? '');
  if (!Number.isFinite(reset) || reset <= 0) return undefined;
  return Math.max(0, reset > 1e9 ? reset * 1000 - Date.now() : reset * 1000);
}

function idOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value.trim() !== '') return value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function textOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** A top-level decimal field exactly as written in the JSON text (a number or a numeric string). */
function decimalField(text: string, field: string): string | undefined {
  return new RegExp(`"${field}"\\s*:\\s*"?(\\d+(?:\\.\\d+)?)"?`).exec(text)?.[1];
}


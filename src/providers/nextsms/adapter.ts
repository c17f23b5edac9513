/**
 * NextSMS / messaging-service.co.tz (provider-docs/003 and the Postman collection 004): Basic
 * auth; POST /api/sms/v1/text/single (one text, `to` a number or a list) and
 * /api/sms/v1/text/multi (a text per entry of `messages`); GET /api/sms/v1/logs and
 * /api/sms/v1/reports for delivery reports (no callbacks); GET /api/sms/v1/balance.
 *
 * Choices where the documents are silent or disagree:
 * - Numbers go out as international digits without '+' (255712345678): every example, the
 *   logs filter ("starting with 255") and the scheduling text use that form, although the prose
 *   "recommends E.164". Answers are matched to our recipients by their digits.
 * - Basic auth is plain base64 of username:password. The documents say "RFC2045-MIME variant",
 *   whose line breaks every 76 characters cannot go in a header.
 * - Every request carries Content-Type and Accept application/json, GETs too, as the Postman
 *   examples do (003: without Content-Type NextSMS answers "General error").
 * - A batch whose items share one text goes to text/single; one with different texts
 *   (personalised) goes to text/multi in one request, recipients of the same text sharing an
 *   entry (`to` a string for one, a list for several, as in the examples).
 * - `reference` carries the dispatcher's submission reference (the same on every retry of the
 *   submission, also after a crash), so NextSMS can tell a retry from a new submission; without
 *   one, a hash of the batch's delivery ids. A batch over 100 recipients (the dispatcher never
 *   makes one) is split, the parts' references suffixed -1, -2...
 * - The send answer has no message id: a delivery's providerMessageId is the reference, and a
 *   delivery is identified by (reference, recipient).
 * - A recipient answered with a PENDING status is accepted; a REJECTED one is a failed outcome
 *   with its code (NEXTSMS_<name>) and the permanence of status-map.ts (64 system error and 63
 *   flooding filter are retried; the rest, 57 not enough credits included, are not). A
 *   recipient missing from the answer is rejected (NEXTSMS_RECIPIENT_NOT_IN_ANSWER). An entry
 *   with no number (the whole request refused, e.g. 68 MISSING_TO) applies to every recipient.
 * - 65 REJECTED_DUPLICATE_MESSAGE_ID is a permanent rejection: we never send message ids, and
 *   the simulator answers a repeated reference with its first answer rather than 65.
 * - HTTP 401/403 is NEXTSMS_UNAUTHORIZED and other 4xx without per-recipient statuses are
 *   NEXTSMS_BAD_REQUEST, both permanent (the documents show no error bodies).
 * - Reports are read from the logs, not /reports: 004 says a report "can only be retrieved
 *   once", and the deliveries of one request are polled independently. Logs are filtered by
 *   `reference` (documented as a filter, not shown in results), `sentSince` (the day before the
 *   earliest submission, so no time zone can hide one) and `to` when only one recipient is
 *   asked for, 500 a page (the documented maximum). Rows asked for by our reference and number
 *   identify our delivery (log-rows.ts): a number's one row is ours whatever its date. Dates
 *   only choose between several (a NextSMS that does not filter by reference, a number twice in
 *   one submission): rows sent from 10 minutes before our record of the submission to 2 minutes
 *   after it, nearest first, each row to one delivery. A row carrying another `reference` is
 *   never ours. Only final statuses are returned.
 * - A submission whose answer was lost is looked up in the logs by its reference and numbers
 *   (findSubmitted) before anything is resent: only the numbers NextSMS has no row of go again.
 * - Dates such as "2020-02-08 12:28:51" come with no zone: each is read both as Tanzanian time
 *   (UTC+3) and as UTC, and the reading nearest our own record of the submission counts, so
 *   neither an upstream that writes UTC nor a clock a little off leaves a delivery unreported.
 *   A report's time is read in the zone its row matched in.
 * - An unknown status id is mapped by its group, except in group 20 (DELIVERY, the operators'
 *   reports), where it could mean either fate and leaves the delivery as it was; with an unknown
 *   group too it counts as still pending (never sends twice, never invents an outcome). All are
 *   logged with the raw value and counted in /metrics (sms_gateway_provider_unknown_statuses_total).
 * - 57 and 12 (not enough credits) and 60 (credits expired) say our account is out of credit:
 *   routing skips NextSMS until its balance is read above the warning threshold again.
 * - The balance is a count of SMS ({"sms_balance": 5}): amount is that number, currency "SMS".
 * - Rate limits are not documented; example answers carry X-RateLimit-Limit 60 (a minute, by
 *   their Laravel-style headers; 50000 on a later one). We make at most 30 submissions a minute,
 *   100 recipients each, leaving the other half of 60 to status polls and balance checks.
 * - NextSMS can schedule (date/time/repeat) but a batch carries no time: `scheduling` is false
 *   and the gateway holds scheduled messages itself.
 * - The first poll comes 30 s after submission.
 */
import { createHash } from 'node:crypto';
import { failAll, httpFailure, httpJson, transportFailure, unreadableAnswer, type HttpResult, type RequestFailure } from '../http.ts';
import type { FoundSubmission, OutboundSms, ProviderDeps, SmsProvider, StatusMapping, StatusQuery, StatusReport, SubmitBatch, SubmitOutcome, UnconfirmedSms } from '../types.ts';
import { mapNextsmsStatus, NEXTSMS_REQUEST_ERRORS, type NextsmsStatusObject } from './status-map.ts';
import { groupBy } from '../../shared/group-by.ts';
import { CARRIES_ANYTHING } from '../capabilities.ts';
import { pollEach } from '../poll-each.ts';
import { nextsmsDate, ownRows, type NextsmsLogEntry, type OwnRow, type RowWindow } from './log-rows.ts';
import { nextsmsNumber } from './numbers.ts';

export const NEXTSMS_PATHS = {
  single: '/api/sms/v1/text/single',
  multi: '/api/sms/v1/text/multi',
  testSingle: '/api/sms/v1/test/text/single',
  testMulti: '/api/sms/v1/test/text/multi',
  reports: '/api/sms/v1/reports',
  logs: '/api/sms/v1/logs',
  balance: '/api/sms/v1/balance',
} as const;
export const NEXTSMS_MAX_RECIPIENTS = 100;
/** The documented maximum of `limit` on the logs. */
export const NEXTSMS_LOG_PAGE = 500;
const MAX_LOG_PAGES = 20;

export type NextsmsConfig = { baseUrl: string; username: string; password: string };

/** One recipient's line of a send answer. */
export type NextsmsSendAnswer = { to?: unknown; status?: Partial<NextsmsStatusObject> | null; smsCount?: number };

type Ok = Extract<HttpResult, { ok: true }>;

export function basicAuthorization(config: Pick<NextsmsConfig, 'username' | 'password'>): string {
  return `Basic ${Buffer.from(`${config.username}:${config.password}`, 'utf8').toString('base64')}`;
}

export function createNextsmsProvider(config: NextsmsConfig, deps: ProviderDeps): SmsProvider {
  const origin = config.baseUrl.replace(/\/+$/, '');
  const headers = { authorization: basicAuthorization(config), accept: 'application/json', 'content-type': 'application/json' };
  const call = (method: 'GET' | 'POST', path: string, body?: unknown) =>
    httpJson({ method, url: `${origin}${path}`, headers, body, timeoutMs: deps.timeoutMs, pace: deps.pace });

  function mapped(status: Partial<NextsmsStatusObject> | null | undefined) {
    const result = mapNextsmsStatus(status ?? {});
    if (result.by !== 'id') {
      deps.logger.warn({ status: status ?? null, mappedAs: result.mapping.status }, 'NextSMS status this gateway does not know');
      deps.onUnknownStatus?.();
    }
    return result.mapping;
  }

  async function submit(senderId: string, items: OutboundSms[], reference: string): Promise<SubmitOutcome[]> {
    const sameText = items.every((item) => item.text === items[0]!.text);
    const result = sameText
      ? await call('POST', NEXTSMS_PATHS.single, singleBody(senderId, items, reference))
      : await call('POST', NEXTSMS_PATHS.multi, multiBody(senderId, items, reference));
    if (!result.ok) return failAll(items, transportFailure(result));
    const failure = answerFailure(result);
    if (failure) return failAll(items, failure);
    const answers = sendAnswers(result.json);
    if (!answers) return failAll(items, result.status >= 400 ? refusal('BAD_REQUEST', result) : unreadableAnswer(result));
    return matchAnswers(items, answers).map(({ item, answer }) => outcomeOf(item, answer, reference));
  }

  /** The JSON of a GET that NextSMS answered; throws when it could not be asked. */
  async function read(path: string, what: string): Promise<{ json: unknown; unreadable: () => Error }> {
    const result = await call('GET', path);
    if (!result.ok) throw new Error(`NextSMS ${what}: ${transportFailure(result).errorMessage}`);
    const failure = answerFailure(result) ?? (result.status >= 400 ? refusal('BAD_REQUEST', result) : undefined);
    if (failure) throw new Error(`NextSMS ${what}: ${failure.errorMessage}`);
    return { json: result.json, unreadable: () => new Error(`NextSMS ${what}: ${unreadableAnswer(result).errorMessage}`) };
  }

  function outcomeOf(item: OutboundSms, answer: NextsmsSendAnswer | undefined, reference: string): SubmitOutcome {
    if (!answer) return failedOutcome(item, NEXTSMS_REQUEST_ERRORS.RECIPIENT_NOT_IN_ANSWER!);
    const mapping = mapped(answer.status);
    if (mapping.status === 'SENT' || mapping.status === 'DELIVERED') {
      return { deliveryId: item.deliveryId, outcome: 'accepted', providerMessageId: reference, raw: answer };
    }
    return failedOutcome(item, mapping, answer);
  }

  /** Every log entry of `reference` that concerns `queries`, page by page until all are found. */
  async function logsOf(reference: string, queries: StatusQuery[]): Promise<NextsmsLogEntry[]> {
    const wanted = new Set(queries.map((q) => nextsmsNumber(q.recipient)));
    const entries: NextsmsLogEntry[] = [];
    for (let page = 0; page < MAX_LOG_PAGES; page += 1) {
      const answer = await read(`${NEXTSMS_PATHS.logs}?${logsQuery(reference, queries, page).toString()}`, `logs of ${reference}`);
      const results = logResults(answer.json);
      if (!results) throw answer.unreadable();
      entries.push(...results);
      for (const entry of results) wanted.delete(nextsmsNumber(entry.to));
      if (results.length < NEXTSMS_LOG_PAGE || wanted.size === 0) break;
    }
    return entries;
  }

  function reportOf(query: StatusQuery, own: OwnRow | undefined): StatusReport | undefined {
    const entry = own?.entry;
    if (!entry?.status) return undefined;
    const mapping = mapped(entry.status);
    if (mapping.status === 'SENT') return undefined;
    return {
      deliveryId: query.deliveryId,
      status: mapping.status,
      errorCode: mapping.errorCode,
      errorMessage: errorMessageOf(mapping.errorMessage, entry.error),
      at: nextsmsDate(entry.doneAt, own!.zone ?? '+03:00'),
      raw: entry,
    };
  }

  return {
    name: 'nextsms',
    capabilities: {
      maxBatchSize: NEXTSMS_MAX_RECIPIENTS,
      reports: 'poll',
      firstPollAfterMs: 30_000,
      maxRequestsPerSecond: 0.5,
      personalisation: 'rendered',
      scheduling: false,
      recognisesRetries: true,
      // 25 parts or 4000 bytes (003, status 67): more than the gateway ever sends.
      carries: CARRIES_ANYTHING,
      balance: true,
    },

    async send(batch: SubmitBatch) {
      const reference = batch.reference ?? referenceOf(batch.items);
      const parts = chunk(repeatsInDeliveryIdOrder(batch.items), NEXTSMS_MAX_RECIPIENTS);
      const outcomes = await Promise.all(
        parts.map((items, i) => submit(batch.senderId, items, parts.length === 1 ? reference : `${reference}-${i + 1}`)),
      );
      const byDelivery = new Map(outcomes.flat().map((outcome) => [outcome.deliveryId, outcome]));
      return batch.items.map((item) => byDelivery.get(item.deliveryId)!);
    },

    async fetchStatus(queries: StatusQuery[]) {
      const byReference = [...groupBy(queries, (q) => q.providerMessageId)];
      return pollEach(
        byReference,
        async ([reference, group]) => {
          const entries = await logsOf(reference, group);
          const claims = group.map((q) => ({ key: q.deliveryId, recipient: q.recipient, reference, at: q.sentAt }));
          const own = ownRows(claims, entries, REPORT_WINDOW);
          return group.flatMap((query) => reportOf(query, own.get(query.deliveryId)) ?? []);
        },
        { logger: deps.logger, provider: 'NextSMS' },
      );
    },

    async findSubmitted(items: UnconfirmedSms[]) {
      const found: FoundSubmission[] = [];
      for (const [reference, group] of groupBy(items, (item) => item.reference ?? referenceOf(items))) {
        const queries = group.map((item) => ({ deliveryId: item.deliveryId, providerMessageId: reference, recipient: item.recipient, sentAt: item.since }));
        const entries = await logsOf(reference, queries);
        const claims = group.map((item) => ({ key: item.deliveryId, recipient: item.recipient, reference, at: item.since }));
        const own = ownRows(claims, entries, SUBMISSION_WINDOW);
        for (const item of group) {
          const row = own.get(item.deliveryId);
          if (row) found.push({ deliveryId: item.deliveryId, providerMessageId: reference, raw: row.entry });
        }
      }
      return found;
    },

    async fetchBalance() {
      const answer = await read(NEXTSMS_PATHS.balance, 'balance');
      const balance = (answer.json as { sms_balance?: unknown } | undefined)?.sms_balance;
      if (typeof balance !== 'number' && !(typeof balance === 'string' && /^\d+(\.\d+)?$/.test(balance))) throw answer.unreadable();
      return { amount: String(balance), currency: 'SMS' };
    },
  };
}

/** How far a log row's sentAt may be from our record of the submission: a slow answer, clocks apart. */
const REPORT_WINDOW: RowWindow = { beforeMs: 10 * 60_000, afterMs: 2 * 60_000 };
/** A submission whose answer was lost may have been taken any time after we made it. */
const SUBMISSION_WINDOW: RowWindow = { beforeMs: 10 * 60_000, afterMs: Number.POSITIVE_INFINITY };

function failedOutcome(item: OutboundSms, mapping: StatusMapping, raw?: unknown): SubmitOutcome {
  return {
    deliveryId: item.deliveryId,
    outcome: 'failed',
    permanent: mapping.permanent,
    status: mapping.status === 'REJECTED' ? 'REJECTED' : 'FAILED',
    errorCode: mapping.errorCode ?? 'NEXTSMS_UNKNOWN',
    errorMessage: mapping.errorMessage ?? 'NextSMS did not accept the message',
    ...(mapping.outOfCredit ? { outOfCredit: true as const } : {}),
    ...(raw !== undefined ? { raw } : {}),
  };
}

function singleBody(from: string, items: OutboundSms[], reference: string) {
  const to = items.map((item) => nextsmsNumber(item.recipient));
  return { from, to: to.length === 1 ? to[0] : to, text: items[0]!.text, reference };
}

function multiBody(from: string, items: OutboundSms[], reference: string) {
  const byText = groupBy(items, (item) => item.text);
  const messages = [...byText].map(([text, group]) => {
    const to = group.map((item) => nextsmsNumber(item.recipient));
    return { from, to: to.length === 1 ? to[0] : to, text };
  });
  return { messages, reference };
}

/** Each item with its line of the answer: by number, in order (a number may appear twice); else the request-wide line. */
function matchAnswers(items: OutboundSms[], answers: NextsmsSendAnswer[]) {
  const unclaimed = [...answers];
  const requestWide = answers.find((answer) => nextsmsNumber(answer.to) === '');
  return items.map((item) => {
    const number = nextsmsNumber(item.recipient);
    const index = unclaimed.findIndex((answer) => nextsmsNumber(answer.to) === number);
    const answer = index >= 0 ? unclaimed.splice(index, 1)[0] : requestWide;
    return { item, answer };
  });
}

function sendAnswers(json: unknown): NextsmsSendAnswer[] | undefined {
  const messages = (json as { messages?: unknown } | undefined)?.messages;
  if (!Array.isArray(messages) || !messages.every((m) => m && typeof m === 'object')) return undefined;
  return messages as NextsmsSendAnswer[];
}

function logResults(json: unknown): NextsmsLogEntry[] | undefined {
  const results = (json as { results?: unknown } | undefined)?.results;
  if (!Array.isArray(results) || !results.every((r) => r && typeof r === 'object')) return undefined;
  return results as NextsmsLogEntry[];
}

function logsQuery(reference: string, queries: StatusQuery[], page: number): URLSearchParams {
  const earliest = Math.min(...queries.map((q) => q.sentAt.getTime()));
  const params = new URLSearchParams({
    reference,
    sentSince: new Date(earliest - 24 * 3600_000).toISOString().slice(0, 10),
    limit: String(NEXTSMS_LOG_PAGE),
    offset: String(page * NEXTSMS_LOG_PAGE),
  });
  if (queries.length === 1) params.set('to', nextsmsNumber(queries[0]!.recipient));
  return params;
}

/** The failure of a whole request NextSMS answered without statuses to read (overload, credentials), or undefined. */
function answerFailure(result: Ok): RequestFailure | undefined {
  const overload = httpFailure(result);
  if (overload) return overload;
  if (result.status === 401 || result.status === 403) return refusal('UNAUTHORIZED', result);
  return undefined;
}

function refusal(kind: 'UNAUTHORIZED' | 'BAD_REQUEST', result: Ok): RequestFailure {
  const mapping = NEXTSMS_REQUEST_ERRORS[kind]!;
  const said = (result.json as { message?: unknown } | undefined)?.message;
  return {
    permanent: mapping.permanent,
    errorCode: mapping.errorCode!,
    errorMessage: `${mapping.errorMessage} (HTTP ${result.status}${typeof said === 'string' ? `: ${said}` : ''})`,
    raw: result.json ?? result.text.slice(0, 500),
  };
}


function errorMessageOf(message: string | null, error: NextsmsLogEntry['error']): string | null {
  if (!error || !error.id || typeof error.description !== 'string') return message;
  return message ? `${message} (${error.description})` : error.description;
}

/**
 * The items with those of a number sent to more than once in delivery id order (in the places
 * they had), so that the rows NextSMS logs for them come in the order log-rows.ts gives them out.
 */
function repeatsInDeliveryIdOrder(items: OutboundSms[]): OutboundSms[] {
  const byNumber = groupBy(items, (item) => nextsmsNumber(item.recipient));
  for (const group of byNumber.values()) group.sort((a, b) => (a.deliveryId < b.deliveryId ? -1 : a.deliveryId > b.deliveryId ? 1 : 0));
  const taken = new Map<string, number>();
  return items.map((item) => {
    const number = nextsmsNumber(item.recipient);
    const index = taken.get(number) ?? 0;
    taken.set(number, index + 1);
    return byNumber.get(number)![index]!;
  });
}

/** A stable reference for a batch that came without one: the same deliveries give the same one. */
function referenceOf(items: OutboundSms[]): string {
  const ids = items.map((item) => item.deliveryId).sort();
  return createHash('sha256').update(ids.join(',')).digest('hex').slice(0, 32);
}


function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

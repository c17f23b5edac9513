/**
 * A NextSMS API on loopback, per provider-docs/003 and 004: Basic auth, text/single and
 * text/multi (and their free test-mode twins), scheduling fields, send via link, logs, reports
 * (each final report given out once), balance, and the reseller sub-customer endpoints.
 *
 * What it does where the documents are silent (see also the adapter's header):
 * - Wrong or missing credentials: 401 with `WWW-Authenticate: Basic` and the envelope of the
 *   documented reseller answers, {"success": false, "status": 401, "message": "Invalid credentials."}.
 *   The same envelope carries the other request errors: 400 "General error" for a POST without
 *   Content-Type application/json (003) or with a body that is not JSON, 422 for missing text,
 *   bad dates or bad paging, 404 for an unknown sub-customer. GETs are not refused for a missing
 *   Content-Type: the documents' own report examples send none.
 * - Every answer carries X-RateLimit-Limit / X-RateLimit-Remaining as the examples do; past the
 *   limit (per minute, 50000 by default as on the latest example) it answers 429 with Retry-After.
 * - Per recipient: a number that is not 8-15 digits (an optional '+' aside), or a 255 number that
 *   is not 12 digits, is 69 REJECTED_INVALID_DESTINATION; a local number (leading 0) is 54
 *   REJECTED_PREFIX_MISSING; no sender is 56 REJECTED_SOURCE; over 25 parts or 4000 bytes is 67;
 *   too few credits is 12 REJECTED_NOT_ENOUGH_CREDITS (the Postman object). A line without `to`
 *   is answered {"to": <as sent>, status 68 MISSING_TO}, with HTTP 400 when no line has one.
 * - Fates follow `outcomeFor`: REJECTED at submission (55 REJECTED_DND in the send answer);
 *   otherwise PENDING_ENROUTE (7), then after the report delay DELIVERED_TO_HANDSET (5, with
 *   the NO_ERROR error object), UNDELIVERABLE (76) or EXPIRED (74), with a null error object.
 *   The documents' own objects are used: the Postman ones where an example shows one, 003's
 *   table otherwise.
 * - A repeated `reference` is a retry of the same submission: a recipient already accepted
 *   under that reference gets its first answer again and is neither sent nor charged twice
 *   (65 REJECTED_DUPLICATE_MESSAGE_ID is never used for it). Recipients new to the reference,
 *   or rejected the first time, are handled as new.
 * - Dates are Tanzanian time (UTC+3; UTC with `datesIn`), "YYYY-MM-DD HH:mm:ss"; doneAt is the time of the last
 *   change. Logs are newest first, `limit` 500 by default and at most; reports `size` likewise.
 *   Both accept `reference` (documented as a filter; results do not show it). The deprecated
 *   report dates apply only as a pair (003 says both are required); `sentFrom`, used in 004's
 *   example URL, is read as `sentSince`.
 * - Scheduled sends (date + time, in the zone of its dates) answer 26 PENDING_ACCEPTED and are sent at that
 *   time; `repeat` is checked but only the first sending is simulated.
 * - Test mode answers like the real endpoints but stores, sends and charges nothing.
 * - Send via link takes the credentials from its query; its answer is that of text/single.
 * - Sub-customers start with no SMS; recharge moves SMS from the account to them, deduct back.
 */
import { SimulatorServer, type SimRequest, type SimResponse, type SimulatedOutcome, type SimulatorOptions } from '../simulator/server.ts';
import { NEXTSMS_PATHS, type NextsmsConfig } from './adapter.ts';
import { nextsmsNumber } from './numbers.ts';
import { nextsmsStatusObject, type NextsmsStatusObject } from './status-map.ts';

export type NextsmsSimulatorOptions = SimulatorOptions & {
  /** SMS credits of the account; each part of each SMS sent takes one. */
  smsBalance?: number;
  /** Requests per minute before 429 (the X-RateLimit-Limit header). */
  requestsPerMinute?: number;
  /**
   * false: the logs ignore `reference`. 004 names it after the filters, in a paragraph of its
   * own, and no example uses it, so a NextSMS that does not filter by it is a case to handle.
   */
  referenceFilter?: boolean;
  /**
   * The zone its dates are written in, without saying so, as the documents' examples are
   * ("2020-02-05 12:28:51"): Tanzanian time (the default) or UTC. Scheduled times are read in it too.
   */
  datesIn?: 'tanzania' | 'utc';
};

type ErrorObject = { groupId: number; groupName: string; id: number; name: string; description: string; permanent: boolean };
type SendAnswer = { to: unknown; status: NextsmsStatusObject; smsCount: number };
type Sent = {
  messageId: string;
  reference: string | undefined;
  from: string;
  to: string;
  text: string;
  smsCount: number;
  sentAt: string;
  doneAt: string;
  status: NextsmsStatusObject;
  error: ErrorObject | null;
  reported: boolean;
};
type Line = { from: unknown; to: unknown; text: string };
type Submission = { lines: Line[]; reference: string | undefined; scheduledAt: Date | undefined; live: boolean };
type Customer = { name: string; username: string; phone_number: string; email: string; account_type: string; sms_price: string; smsBalance: number };

const STATUS = {
  enroute: 7,
  scheduled: 26,
  delivered: 5,
  undeliverable: 76,
  expired: 74,
  dnd: 55,
  notEnoughCredits: 12,
  prefixMissing: 54,
  source: 56,
  tooLong: 67,
  missingTo: 68,
  invalidDestination: 69,
} as const;
const FINAL_STATUS: Record<Exclude<SimulatedOutcome, 'REJECTED'>, number> = {
  DELIVERED: STATUS.delivered,
  FAILED: STATUS.undeliverable,
  EXPIRED: STATUS.expired,
};
const NO_ERROR: ErrorObject = { groupId: 0, groupName: 'OK', id: 0, name: 'NO_ERROR', description: 'No Error', permanent: false };
const PENDING_IDS = new Set<number>([STATUS.enroute, STATUS.scheduled]);
const ZONE_OFFSET_MS = { tanzania: 3 * 3600_000, utc: 0 } as const;
const PAGE_MAX = 500;
const MAX_TIMER_MS = 2 ** 31 - 1;
const REPEATS = ['hourly', 'daily', 'weekly', 'monthly'];
const ACCOUNT_TYPES = ['Sub Customer', 'Sub Customer (Reseller)'];
const FIRST_MESSAGE_ID = 28089492984101631440n;

export function createNextsmsSimulator(config: Pick<NextsmsConfig, 'username' | 'password'>, options: NextsmsSimulatorOptions = {}) {
  const sim = new SimulatorServer('nextsms', options);
  const expectedAuthorization = `Basic ${Buffer.from(`${config.username}:${config.password}`, 'utf8').toString('base64')}`;
  const perMinute = options.requestsPerMinute ?? 50_000;
  const zoneOffsetMs = ZONE_OFFSET_MS[options.datesIn ?? 'tanzania'];
  const upstreamTime = (at: Date) => new Date(at.getTime() + zoneOffsetMs).toISOString().slice(0, 19).replace('T', ' ');
  const sent: Sent[] = [];
  /** Accepted answers by reference, then number, in the order they were given. */
  const accepted = new Map<string, Map<string, SendAnswer[]>>();
  const customers = new Map<string, Customer>();
  let requestTimes: number[] = [];
  let balance = options.smsBalance ?? 100_000;
  let nextMessageId = FIRST_MESSAGE_ID;
  // The account topped up (or drained) from its dashboard: POST /__simulator/settings {"smsBalance": n}.
  sim.onSettings((settings) => {
    if (typeof settings.smsBalance === 'number') balance = settings.smsBalance;
  });

  /** Routes behind the rate limit, with the rate headers on every answer. */
  function limited(handler: (request: SimRequest) => SimResponse): (request: SimRequest) => SimResponse {
    return (request): SimResponse => {
      const now = Date.now();
      requestTimes = requestTimes.filter((t) => now - t < 60_000);
      if (requestTimes.length >= perMinute) {
        const retryAfter = Math.max(1, Math.ceil((requestTimes[0]! + 60_000 - now) / 1000));
        const refused = envelopeError(429, 'Too Many Attempts.');
        return { ...refused, headers: { 'retry-after': String(retryAfter), 'x-ratelimit-limit': String(perMinute), 'x-ratelimit-remaining': '0' } };
      }
      requestTimes.push(now);
      const response = handler(request);
      const rate: Record<string, string> = { 'x-ratelimit-limit': String(perMinute), 'x-ratelimit-remaining': String(perMinute - requestTimes.length) };
      return { ...response, headers: { ...rate, ...response.headers } };
    };
  }

  /** Routes that need Basic auth (and, for POSTs, a JSON Content-Type). */
  function api(handler: (request: SimRequest) => SimResponse) {
    return limited((request) => {
      if (request.headers.authorization !== expectedAuthorization) return unauthorized();
      if (request.method === 'POST') {
        const contentType = request.headers['content-type'];
        if (typeof contentType !== 'string' || !/^application\/json\b/i.test(contentType)) return envelopeError(400, 'General error');
        if (!isObject(request.body)) return envelopeError(400, 'General error: the body is not valid JSON');
      }
      return handler(request);
    });
  }

  function submit(submission: Submission): SimResponse {
    const occurrences = new Map<string, number>();
    const answers: SendAnswer[] = [];
    for (const line of submission.lines) {
      const numbers = recipientsOf(line.to);
      if (numbers.length === 0) {
        answers.push({ to: line.to ?? null, status: nextsmsStatusObject(STATUS.missingTo), smsCount: 0 });
        continue;
      }
      for (const to of numbers) {
        const digits = nextsmsNumber(to);
        const occurrence = occurrences.get(digits) ?? 0;
        occurrences.set(digits, occurrence + 1);
        const replay = submission.live && submission.reference ? accepted.get(submission.reference)?.get(digits)?.[occurrence] : undefined;
        answers.push(replay ?? answerFor(submission, line, to));
      }
    }
    const anyRecipient = answers.some((answer) => answer.status.id !== STATUS.missingTo);
    return { status: anyRecipient ? 200 : 400, body: { messages: answers } };
  }

  function answerFor(submission: Submission, line: Line, to: string): SendAnswer {
    const smsCount = partsOf(line.text);
    const refusal = refusalOf(line, to, smsCount, submission.live);
    if (refusal !== undefined) return { to, status: nextsmsStatusObject(refusal), smsCount };
    const answer: SendAnswer = { to, status: nextsmsStatusObject(submission.scheduledAt ? STATUS.scheduled : STATUS.enroute), smsCount };
    if (submission.live) record(submission, line, to, answer);
    return answer;
  }

  /** Why NextSMS would refuse this recipient, as a status id; undefined when it takes it. */
  function refusalOf(line: Line, to: string, smsCount: number, live: boolean): number | undefined {
    const digits = nextsmsNumber(to);
    if (!/^\+?\d+$/.test(to.trim())) return STATUS.invalidDestination;
    if (digits.startsWith('0')) return STATUS.prefixMissing;
    if (digits.length < 8 || digits.length > 15 || (digits.startsWith('255') && digits.length !== 12)) return STATUS.invalidDestination;
    if (typeof line.from !== 'string' || line.from.trim() === '') return STATUS.source;
    if (smsCount > 25 || Buffer.byteLength(line.text, 'utf8') > 4000) return STATUS.tooLong;
    if (sim.outcomeFor(`+${digits}`, line.text) === 'REJECTED') return STATUS.dnd;
    if (live && balance < smsCount) return STATUS.notEnoughCredits;
    return undefined;
  }

  function record(submission: Submission, line: Line, to: string, answer: SendAnswer): void {
    const digits = nextsmsNumber(to);
    balance -= answer.smsCount;
    const now = upstreamTime(new Date());
    const entry: Sent = {
      messageId: String(nextMessageId++),
      reference: submission.reference,
      from: String(line.from),
      to: digits,
      text: line.text,
      smsCount: answer.smsCount,
      sentAt: submission.scheduledAt ? upstreamTime(submission.scheduledAt) : now,
      doneAt: now,
      status: answer.status,
      error: null,
      reported: false,
    };
    sent.push(entry);
    if (submission.reference) {
      const byNumber = accepted.get(submission.reference) ?? new Map<string, SendAnswer[]>();
      byNumber.set(digits, [...(byNumber.get(digits) ?? []), answer]);
      accepted.set(submission.reference, byNumber);
    }
    const wait = submission.scheduledAt ? Math.max(0, submission.scheduledAt.getTime() - Date.now()) : 0;
    if (wait > 0) after(wait, () => change(entry, STATUS.enroute, null));
    after(wait + sim.reportDelayMs, () => {
      const outcome = sim.outcomeFor(`+${digits}`, line.text);
      const id = outcome === 'REJECTED' ? STATUS.dnd : FINAL_STATUS[outcome];
      change(entry, id, outcome === 'DELIVERED' ? NO_ERROR : null);
    });
  }

  /** sim.later for any delay: timers cannot wait more than about 24 days at once. */
  function after(delayMs: number, task: () => void): void {
    if (delayMs <= MAX_TIMER_MS) sim.later(delayMs, task);
    else sim.later(MAX_TIMER_MS, () => after(delayMs - MAX_TIMER_MS, task));
  }

  function change(entry: Sent, statusId: number, error: ErrorObject | null): void {
    entry.status = nextsmsStatusObject(statusId);
    entry.error = error;
    entry.doneAt = upstreamTime(new Date());
  }

  function sendRoute(kind: 'single' | 'multi', live: boolean) {
    return (request: SimRequest): SimResponse => {
      const body = request.body as Record<string, unknown>;
      const submission = kind === 'single' ? singleSubmission(body, live, zoneOffsetMs) : multiSubmission(body, live);
      return 'status' in submission ? submission : submit(submission);
    };
  }

  sim.route('POST', NEXTSMS_PATHS.single, api(sendRoute('single', true)));
  sim.route('POST', NEXTSMS_PATHS.multi, api(sendRoute('multi', true)));
  sim.route('POST', NEXTSMS_PATHS.testSingle, api(sendRoute('single', false)));
  sim.route('POST', NEXTSMS_PATHS.testMulti, api(sendRoute('multi', false)));

  sim.route(
    'GET',
    '/link/sms/v1/text/single',
    limited((request) => {
      const { username, password, ...fields } = request.query;
      if (username !== config.username || password !== config.password) return unauthorized();
      return sendRoute('single', true)({ ...request, body: fields });
    }),
  );

  sim.route(
    'GET',
    NEXTSMS_PATHS.logs,
    api((request) => {
      const { from, to, reference } = request.query;
      const paging = pagingOf(request.query.limit, request.query.offset);
      if ('status' in paging) return paging;
      const matching = newestFirst(sent).filter(
        (entry) =>
          (!from || entry.from === from) &&
          (!to || entry.to === nextsmsNumber(to)) &&
          (!reference || options.referenceFilter === false || entry.reference === reference) &&
          withinDates(entry.sentAt, request.query.sentSince, request.query.sentUntil),
      );
      const page = matching.slice(paging.offset, paging.offset + paging.limit);
      return { status: 200, body: { results: page.map(logOf) } };
    }),
  );

  sim.route(
    'GET',
    NEXTSMS_PATHS.reports,
    api((request) => {
      const { messageId, sender, reference, sentUntil } = request.query;
      const sentSince = request.query.sentSince ?? request.query.sentFrom;
      const size = request.query.size === undefined ? PAGE_MAX : Number(request.query.size);
      if (!Number.isInteger(size) || size < 1) return envelopeError(422, 'The size must be an integer.');
      const dated = sentSince !== undefined && sentUntil !== undefined;
      const due = newestFirst(sent)
        .filter((entry) => !entry.reported && !PENDING_IDS.has(entry.status.id))
        .filter(
          (entry) =>
            (!messageId || entry.messageId === messageId) &&
            (!sender || entry.from === sender) &&
            (!reference || entry.reference === reference) &&
            (!dated || withinDates(entry.sentAt, sentSince, sentUntil)),
        )
        .slice(0, Math.min(size, PAGE_MAX));
      for (const entry of due) entry.reported = true;
      return { status: 200, body: { results: due.map(reportOf) } };
    }),
  );

  sim.route('GET', NEXTSMS_PATHS.balance, api(() => ({ status: 200, body: { sms_balance: balance } })));

  sim.route(
    'POST',
    '/api/reseller/v1/sub_customer/create',
    api((request) => {
      const body = request.body as Record<string, unknown>;
      const missing = ['first_name', 'last_name', 'username', 'email', 'phone_number', 'account_type', 'sms_price'].find(
        (field) => body[field] === undefined || body[field] === '',
      );
      if (missing) return envelopeError(422, `The ${missing} field is required.`);
      if (!ACCOUNT_TYPES.includes(String(body.account_type))) return envelopeError(422, 'The selected account type is invalid.');
      const email = String(body.email);
      if (customers.has(email)) return envelopeError(422, 'The email has already been taken.');
      const customer: Customer = {
        name: `${String(body.first_name)} ${String(body.last_name)}`,
        username: String(body.username),
        phone_number: internationalPhone(String(body.phone_number)),
        email,
        account_type: String(body.account_type),
        sms_price: `${Number(body.sms_price).toFixed(2)} TSH`,
        smsBalance: 0,
      };
      customers.set(email, customer);
      const { smsBalance: _smsBalance, ...result } = customer;
      return envelope('Customer created successfully. Email is sent to your customer email address for confirmation.', result);
    }),
  );

  sim.route(
    'POST',
    '/api/reseller/v1/sub_customer/recharge',
    api((request) => {
      const transfer = transferOf(request.body as Record<string, unknown>);
      if ('status' in transfer) return transfer;
      if (balance < transfer.smscount) return envelopeError(422, 'Your sms balance is not enough for this transaction.');
      balance -= transfer.smscount;
      transfer.customer.smsBalance += transfer.smscount;
      return envelope('Transaction completed successfully', {
        Customer: transfer.customer.email,
        'Sms transferred': transfer.smscount,
        'Your sms balance': balance,
      });
    }),
  );

  sim.route(
    'POST',
    '/api/reseller/v1/sub_customer/deduct',
    api((request) => {
      const transfer = transferOf(request.body as Record<string, unknown>);
      if ('status' in transfer) return transfer;
      if (transfer.customer.smsBalance < transfer.smscount) return envelopeError(422, 'The customer sms balance is not enough for this transaction.');
      transfer.customer.smsBalance -= transfer.smscount;
      balance += transfer.smscount;
      return envelope('Transaction completed successfully', {
        Customer: transfer.customer.email,
        'Sms deducted': transfer.smscount,
        'Your sms balance': balance,
        'Customer sms balance': transfer.customer.smsBalance,
      });
    }),
  );

  function transferOf(body: Record<string, unknown>): SimResponse | { customer: Customer; smscount: number } {
    if (typeof body.email !== 'string' || body.email === '') return envelopeError(422, 'The email field is required.');
    const smscount = Number(body.smscount);
    if (!Number.isInteger(smscount) || smscount < 1) return envelopeError(422, 'The smscount must be a positive integer.');
    const customer = customers.get(body.email);
    if (!customer) return envelopeError(404, 'Customer not found.');
    return { customer, smscount };
  }

  return sim;
}

function singleSubmission(body: Record<string, unknown>, live: boolean, zoneOffsetMs: number): Submission | SimResponse {
  if (typeof body.text !== 'string' || body.text === '') return envelopeError(422, 'The text field is required.');
  const scheduledAt = scheduleOf(body, zoneOffsetMs);
  if (scheduledAt && 'status' in scheduledAt) return scheduledAt;
  return { lines: [{ from: body.from, to: body.to, text: body.text }], reference: referenceOf(body), scheduledAt, live };
}

function multiSubmission(body: Record<string, unknown>, live: boolean): Submission | SimResponse {
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    return { status: 400, body: { messages: [{ to: null, status: nextsmsStatusObject(STATUS.missingTo), smsCount: 0 }] } };
  }
  const lines: Line[] = [];
  for (const message of body.messages as unknown[]) {
    if (!isObject(message) || typeof message.text !== 'string' || message.text === '') {
      return envelopeError(422, 'The messages.text field is required.');
    }
    lines.push({ from: message.from, to: message.to, text: message.text });
  }
  return { lines, reference: referenceOf(body), scheduledAt: undefined, live };
}

/** The scheduled time of a single send (003: `date` Y-m-d and `time` H:i, in the zone of its dates). */
function scheduleOf(body: Record<string, unknown>, zoneOffsetMs: number): Date | SimResponse | undefined {
  if (body.date === undefined && body.time === undefined) return undefined;
  if (typeof body.date !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(body.date)) return envelopeError(422, 'The date does not match the format Y-m-d.');
  if (typeof body.time !== 'string' || !/^\d{2}:\d{2}$/.test(body.time)) return envelopeError(422, 'The time does not match the format H:i.');
  if (body.repeat !== undefined && !REPEATS.includes(String(body.repeat))) return envelopeError(422, 'The selected repeat is invalid.');
  const at = new Date(new Date(`${body.date}T${body.time}:00Z`).getTime() - zoneOffsetMs);
  return Number.isNaN(at.getTime()) ? envelopeError(422, 'The date is not a valid date.') : at;
}

function referenceOf(body: Record<string, unknown>): string | undefined {
  return typeof body.reference === 'string' && body.reference !== '' ? body.reference : undefined;
}

function recipientsOf(to: unknown): string[] {
  if (typeof to === 'string') return to.trim() === '' ? [] : [to];
  if (typeof to === 'number') return [String(to)];
  if (Array.isArray(to)) return to.filter((n) => typeof n === 'string' || typeof n === 'number').map(String);
  return [];
}

/** SMS parts: GSM-7 (160, or 153 a part when concatenated), otherwise UCS-2 (70, or 67). */
function partsOf(text: string): number {
  const gsm = /^[A-Za-z0-9 \r\n@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!"#¤%&'()*+,\-./:;<=>?¡ÄÖÑÜ§¿äöñüà^{}\\[~\]|€]*$/.test(text);
  const length = gsm ? text.length + (text.match(/[\^{}\\[~\]|€]/g)?.length ?? 0) : text.length;
  const [single, part] = gsm ? [160, 153] : [70, 67];
  return length <= single ? 1 : Math.ceil(length / part);
}

function pagingOf(limitParam: string | undefined, offsetParam: string | undefined): SimResponse | { limit: number; offset: number } {
  const limit = limitParam === undefined ? PAGE_MAX : Number(limitParam);
  const offset = offsetParam === undefined ? 0 : Number(offsetParam);
  if (!Number.isInteger(limit) || limit < 1) return envelopeError(422, 'The limit must be an integer.');
  if (!Number.isInteger(offset) || offset < 0) return envelopeError(422, 'The offset must be an integer.');
  return { limit: Math.min(limit, PAGE_MAX), offset };
}

/** Dates compare as text: "2020-02-05" and "2020-02-05 12:28:51" alike. */
function withinDates(sentAt: string, since: string | undefined, until: string | undefined): boolean {
  if (since && sentAt < since) return false;
  if (until && sentAt.slice(0, until.length) > until) return false;
  return true;
}

function newestFirst(entries: Sent[]): Sent[] {
  return [...entries].reverse();
}

function logOf(entry: Sent) {
  const { messageId, sentAt, doneAt, to, from, text, smsCount, status, error } = entry;
  return { messageId, sentAt, doneAt, to, from, text, smsCount, status, error };
}

function reportOf(entry: Sent) {
  const { messageId, sentAt, doneAt, to, smsCount, status, error } = entry;
  return { messageId, sentAt, doneAt, to, smsCount, status, error };
}

/** "0738234339" as the documented answer shows it, "+255738234339". */
function internationalPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  return `+${digits.startsWith('0') ? `255${digits.slice(1)}` : digits}`;
}

function unauthorized(): SimResponse {
  return { ...envelopeError(401, 'Invalid credentials.'), headers: { 'www-authenticate': 'Basic realm="messaging-service"' } };
}

function envelope(message: string, result: unknown): SimResponse {
  return { status: 200, body: { success: true, status: 200, message, result } };
}

function envelopeError(status: number, message: string): SimResponse {
  return { status, body: { success: false, status, message } };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A MiM SMS API on loopback, per provider-docs/001: JSON POSTs to /send-sms, /status and
 * /balance with api_key, username and password in the body; the documented bodies, status
 * words and error codes 1001-1007; Bangladesh number rules; the default limits of 100 requests a
 * minute, 1000 an hour and 10000 a day (all endpoints together, sliding windows), with
 * X-RateLimit-* headers and a 429 carrying error 1007 beyond them. 1008 is never produced: an
 * unavailable MiM is what the framework's fault injection is for.
 *
 * Where the document is silent:
 * - Errors come in the documented error shape (`"status": "error"` with `error_code`) with HTTP
 *   200, except rate limiting (429). Problems without a documented code (no message, a bad
 *   schedule_time, a body that is not JSON) have `error_code: null`.
 * - Credentials are checked first (1001 for the API key, then 1002 for username/password); only
 *   requests that pass count against the limits.
 * - A valid number is 880 or 0, then 1[3-9] and 8 digits ("+" is cleaned, local numbers are
 *   converted); anything else is 1004. sender_id must be present (1005). Texts over 160
 *   characters (the document's advice, the only length it gives) are 1006.
 * - Each message costs 0.50 BDT ("~0.50 BDT per SMS"); with less than that left, 1003.
 * - Fates follow `outcomeFor` (by default the last digit): REJECTED is refused at submission with
 *   the status word "rejected"; DELIVERED becomes "delivered"; FAILED and EXPIRED become
 *   "failed" (MiM has no word for expiry), with the reason in `error`. A message is "sent" until
 *   then ("accepted" while a schedule_time is ahead), and an unknown message_id answers "error".
 */
import { SimulatorServer, type SimRequest, type SimResponse, type SimulatedOutcome, type SimulatorOptions } from '../simulator/server.ts';
import { MIMSMS_MAX_TEXT, MIMSMS_PATHS, type MimsmsConfig } from './adapter.ts';
import { formatMimTime, isMimTime, parseMimTime } from './time.ts';

export type MimsmsSimulatorOptions = SimulatorOptions & {
  /** false: no request limits (and no X-RateLimit-* headers). */
  rateLimits?: boolean;
  /** Starting balance in BDT. */
  balance?: number;
};

type MessageState = {
  message_id: string;
  phone: string;
  status: 'accepted' | 'sent' | 'delivered' | 'failed';
  delivery_time: string | null;
  error: string | null;
};

const ERRORS = {
  '1001': 'Invalid API key',
  '1002': 'Invalid username/password',
  '1003': 'Insufficient balance',
  '1004': 'Invalid phone number',
  '1005': 'Invalid sender ID',
  '1006': 'Message too long',
  '1007': 'Rate limit exceeded',
} as const;

const LIMITS = [
  { windowMs: 60_000, max: 100 },
  { windowMs: 3_600_000, max: 1000 },
  { windowMs: 86_400_000, max: 10_000 },
];
const DAY_MS = 86_400_000;
const COST_POISHA = 50;
const BANGLADESH_MOBILE = /^(?:880|0)(1[3-9]\d{8})$/;
const FAILURE_TEXT: Record<Exclude<SimulatedOutcome, 'DELIVERED' | 'REJECTED'>, string> = {
  FAILED: 'Handset unreachable',
  EXPIRED: 'Message expired before delivery',
};

type Fields = Record<string, unknown>;

export function createMimsmsSimulator(
  config: Pick<MimsmsConfig, 'apiKey' | 'username' | 'password'>,
  options: MimsmsSimulatorOptions = {},
): SimulatorServer {
  const sim = new SimulatorServer('mimsms', options);
  const messages = new Map<string, MessageState>();
  /** When each request that counted against the limits came, over the last day. */
  const accepted: number[] = [];
  let balancePoisha = Math.round((options.balance ?? 1000) * 100);
  let counter = Date.now();
  // The account topped up (or drained): POST /__simulator/settings {"balance": 12.5} (BDT).
  sim.onSettings((settings) => {
    if (typeof settings.balance === 'number') balancePoisha = Math.round(settings.balance * 100);
  });

  /** Counts a request in the last minute, hour and day; the headers describe the minute, or the window that refuses. */
  function meter(now: number): { allowed: boolean; headers: Record<string, string> } {
    while (accepted.length > 0 && now - accepted[0]! >= DAY_MS) accepted.shift();
    const inWindow = LIMITS.map(({ windowMs }) => accepted.filter((t) => now - t < windowMs));
    const full = LIMITS.findIndex(({ max }, i) => inWindow[i]!.length >= max);
    if (full < 0) accepted.push(now);
    const shown = Math.max(full, 0);
    const { windowMs, max } = LIMITS[shown]!;
    const used = full < 0 ? inWindow[shown]!.length + 1 : max;
    const oldest = inWindow[shown]![0] ?? now;
    return {
      allowed: full < 0,
      headers: {
        'X-RateLimit-Limit': String(max),
        'X-RateLimit-Remaining': String(Math.max(0, max - used)),
        'X-RateLimit-Reset': String(Math.ceil((oldest + windowMs) / 1000)),
      },
    };
  }

  /** Checks what every endpoint needs (JSON, credentials, limits), then answers with `handler`. */
  function endpoint(handler: (fields: Fields) => SimResponse) {
    return (request: SimRequest): SimResponse => {
      const contentType = request.headers['content-type'];
      if (typeof contentType !== 'string' || !contentType.includes('application/json') || typeof request.body !== 'object' || !request.body) {
        return uncoded('send a JSON body (Content-Type: application/json)');
      }
      const fields = request.body as Fields;
      if (fields.api_key !== config.apiKey) return refused('1001');
      if (fields.username !== config.username || fields.password !== config.password) return refused('1002');
      if (options.rateLimits === false) return handler(fields);
      const { allowed, headers } = meter(Date.now());
      const response = allowed ? handler(fields) : refused('1007', 429);
      return { ...response, headers: { ...response.headers, ...headers } };
    };
  }

  function settle(message: MessageState, outcome: Exclude<SimulatedOutcome, 'REJECTED'>): void {
    if (outcome === 'DELIVERED') {
      Object.assign(message, { status: 'delivered', delivery_time: formatMimTime(new Date()), error: null });
    } else {
      Object.assign(message, { status: 'failed', delivery_time: null, error: FAILURE_TEXT[outcome] });
    }
  }

  function sendSms(fields: Fields): SimResponse {
    if (typeof fields.sender_id !== 'string' || fields.sender_id.trim() === '') return refused('1005');
    const phone = typeof fields.phone === 'string' ? internationalForm(fields.phone) : undefined;
    if (!phone) return refused('1004');
    if (typeof fields.message !== 'string' || fields.message.trim() === '') return uncoded('message is required');
    if ([...fields.message].length > MIMSMS_MAX_TEXT) return refused('1006');
    const schedule = fields.schedule_time;
    const hasSchedule = schedule !== undefined && schedule !== null && schedule !== '';
    if (hasSchedule && (typeof schedule !== 'string' || !isMimTime(schedule))) {
      return uncoded('schedule_time must be written YYYY-MM-DD HH:MM:SS');
    }
    if (balancePoisha < COST_POISHA) return refused('1003');

    const outcome = sim.outcomeFor(`+${phone}`);
    if (outcome === 'REJECTED') {
      return { status: 200, body: { status: 'rejected', error_code: null, error_message: 'SMS rejected by provider', message_id: null, cost: 0 } };
    }
    const waitMs = hasSchedule ? Math.max(0, parseMimTime(schedule as string)!.getTime() - Date.now()) : 0;
    const message: MessageState = { message_id: `mim_${counter++}`, phone, status: waitMs > 0 ? 'accepted' : 'sent', delivery_time: null, error: null };
    messages.set(message.message_id, message);
    balancePoisha -= COST_POISHA;
    if (waitMs > 0) sim.later(waitMs, () => void (message.status = 'sent'));
    sim.later(waitMs + sim.reportDelayMs, () => settle(message, outcome));
    return {
      status: 200,
      body: { status: 'success', message_id: message.message_id, cost: COST_POISHA / 100, balance: balancePoisha / 100, error: null },
    };
  }

  function status(fields: Fields): SimResponse {
    const message = typeof fields.message_id === 'string' ? messages.get(fields.message_id) : undefined;
    if (!message) {
      return { status: 200, body: { status: 'error', message_id: fields.message_id ?? null, delivery_time: null, error: 'Message not found' } };
    }
    const { message_id, delivery_time, error } = message;
    return { status: 200, body: { status: message.status, message_id, delivery_time, error } };
  }

  function balance(): SimResponse {
    return { status: 200, body: { status: 'success', balance: balancePoisha / 100, currency: 'BDT', error: null } };
  }

  sim.route('POST', MIMSMS_PATHS.send, endpoint(sendSms));
  sim.route('POST', MIMSMS_PATHS.status, endpoint(status));
  sim.route('POST', MIMSMS_PATHS.balance, endpoint(balance));
  return sim;
}

/** The documented error shape. */
function refused(code: keyof typeof ERRORS, httpStatus = 200): SimResponse {
  return { status: httpStatus, body: { status: 'error', error_code: code, error_message: ERRORS[code], message_id: null, cost: 0 } };
}

function uncoded(errorMessage: string): SimResponse {
  return { status: 200, body: { status: 'error', error_code: null, error_message: errorMessage, message_id: null, cost: 0 } };
}

/** "+880..." is cleaned and "01..." converted; undefined when it is no Bangladesh mobile number. */
function internationalForm(phone: string): string | undefined {
  const digits = BANGLADESH_MOBILE.exec(phone.trim().replace(/^\+(?=880)/, ''));
  return digits ? `880${digits[1]}` : undefined;
}

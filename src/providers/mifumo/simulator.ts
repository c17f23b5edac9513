/**
 * A Mifumo SMS API that runs on loopback, per provider-docs/000: the same paths, Bearer auth,
 * bodies, error codes, pagination and rate limits (100 sends, 200 status checks, 50 report
 * queries and 20 balance checks per minute, answered with 429 beyond). Webhooks go to the URL
 * in `settings.webhookUrl` (the dashboard setting), as message.sent right away and
 * message.delivered or message.failed after the report delay.
 */
import { SimulatorServer, type SimRequest, type SimResponse, type SimulatedOutcome, type SimulatorOptions } from '../simulator/server.ts';
import { MIFUMO_MAX_TEXT, MIFUMO_PATH, type MifumoConfig } from './adapter.ts';

type Detail = { recipient: string; status: 'pending' | 'sent' | 'delivered' | 'failed'; delivered_at: string | null; error_message: string | null };
type StoredMessage = { message_id: string; created_at: string; updated_at: string; content: string; sender_id: string; details: Detail[] };

const E164 = /^\+[1-9]\d{7,14}$/;
const FAILURE_TEXT: Record<Exclude<SimulatedOutcome, 'DELIVERED'>, string> = {
  FAILED: 'Handset unreachable',
  EXPIRED: 'Message expired before delivery',
  REJECTED: 'Rejected by the network operator',
};
const LIMITS = { send: 100, status: 200, reports: 50, balance: 20 } as const;

export function createMifumoSimulator(config: Pick<MifumoConfig, 'apiKey'>, options: SimulatorOptions & { rateLimits?: boolean } = {}) {
  const sim = new SimulatorServer('mifumo', options);
  const messages = new Map<string, StoredMessage>();
  const windows = new Map<string, number[]>();
  let counter = 123456789;
  let balance = 100;
  // The account topped up (or drained): POST /__simulator/settings {"balance": 5} (USD).
  sim.onSettings((settings) => {
    if (typeof settings.balance === 'number') balance = settings.balance;
  });

  const error = (status: number, code: string, message: string): SimResponse => ({
    status,
    body: { success: false, message, error_code: code, details: null },
  });
  const ok = (message: string, data: unknown): SimResponse => ({ status: 200, body: { success: true, message, data } });

  function guard(request: SimRequest, kind: keyof typeof LIMITS): SimResponse | undefined {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !/^Bearer\s+\S+/.test(header)) {
      return error(401, 'AUTHENTICATION_REQUIRED', 'Missing or invalid Authorization header');
    }
    if (header.replace(/^Bearer\s+/, '') !== config.apiKey) return error(401, 'INVALID_API_KEY', 'API key is invalid or expired');
    if (options.rateLimits === false) return undefined;
    const now = Date.now();
    const recent = (windows.get(kind) ?? []).filter((t) => now - t < 60_000);
    if (recent.length >= LIMITS[kind]) {
      return { status: 429, body: { success: false, message: 'Too Many Requests', error_code: null, details: null }, headers: { 'retry-after': String(Math.ceil((recent[0]! + 60_000 - now) / 1000)) } };
    }
    windows.set(kind, [...recent, now]);
    return undefined;
  }

  function webhook(message: StoredMessage, detail: Detail) {
    const url = sim.settings.webhookUrl;
    if (typeof url !== 'string') return;
    const at = new Date().toISOString();
    void sim.callBack(url, {
      event: `message.${detail.status === 'pending' ? 'sent' : detail.status}`,
      message_id: message.message_id,
      recipient: detail.recipient,
      status: detail.status,
      delivered_at: detail.delivered_at,
      error_message: detail.error_message,
      timestamp: at,
    });
  }

  sim.route('POST', `${MIFUMO_PATH}/sms/send/`, (request) => {
    const refused = guard(request, 'send');
    if (refused) return refused;
    const body = (request.body ?? {}) as Record<string, unknown>;
    if (typeof body.message !== 'string' || body.message.trim() === '') return error(400, 'MISSING_MESSAGE', 'Message text is required');
    if (!Array.isArray(body.recipients) || body.recipients.length === 0) return error(400, 'MISSING_RECIPIENTS', 'Recipients list is required');
    const recipients = body.recipients.filter((r): r is string => typeof r === 'string' && E164.test(r));
    if (recipients.length === 0) return error(400, 'NO_VALID_RECIPIENTS', 'No valid recipients found');
    if (recipients.length !== body.recipients.length) return error(400, 'INVALID_PHONE_FORMAT', 'Phone number format is invalid');
    if (body.message.length > MIFUMO_MAX_TEXT) return error(400, 'SMS_SEND_FAILED', `Message exceeds ${MIFUMO_MAX_TEXT} characters`);

    const now = new Date().toISOString();
    const message: StoredMessage = {
      message_id: `msg_${counter++}`,
      created_at: now,
      updated_at: now,
      content: body.message,
      sender_id: typeof body.sender_id === 'string' ? body.sender_id : 'Taarifa-SMS',
      details: recipients.map((recipient) => ({ recipient, status: 'sent', delivered_at: null, error_message: null })),
    };
    messages.set(message.message_id, message);
    const cost = recipients.length * 0.05;
    balance = Math.max(0, balance - cost);
    for (const detail of message.details) {
      sim.later(0, () => webhook(message, detail));
      sim.later(sim.reportDelayMs, () => {
        const outcome = sim.outcomeFor(detail.recipient);
        detail.status = outcome === 'DELIVERED' ? 'delivered' : 'failed';
        detail.delivered_at = outcome === 'DELIVERED' ? new Date().toISOString() : null;
        detail.error_message = outcome === 'DELIVERED' ? null : FAILURE_TEXT[outcome];
        message.updated_at = new Date().toISOString();
        webhook(message, detail);
      });
    }
    return {
      status: 200,
      body: {
        success: true,
        message: 'SMS sent successfully',
        data: { message_id: message.message_id, recipients, cost, currency: 'USD', provider: 'beem_africa', status: 'sent' },
        error_code: null,
        details: null,
      },
    };
  });

  sim.route('GET', `${MIFUMO_PATH}/sms/status/:id/`, (request) => {
    const refused = guard(request, 'status');
    if (refused) return refused;
    const message = messages.get(request.params.id!);
    if (!message) return error(404, 'MESSAGE_NOT_FOUND', 'Message ID not found');
    return ok('Message status retrieved successfully', {
      message_id: message.message_id,
      status: overall(message),
      created_at: message.created_at,
      updated_at: message.updated_at,
      recipient_count: message.details.length,
      content_preview: message.content.slice(0, 50),
      sender_id: message.sender_id,
      delivery_details: message.details,
    });
  });

  sim.route('GET', `${MIFUMO_PATH}/sms/delivery-reports/`, (request) => {
    const refused = guard(request, 'reports');
    if (refused) return refused;
    const { start_date, end_date, status } = request.query;
    const page = Math.max(1, Number(request.query.page ?? 1) || 1);
    const perPage = Math.min(100, Math.max(1, Number(request.query.per_page ?? 50) || 50));
    const matching = [...messages.values()].filter(
      (m) =>
        (!start_date || m.created_at >= start_date) &&
        (!end_date || m.created_at <= end_date) &&
        (!status || overall(m) === status),
    );
    return ok('Delivery reports retrieved successfully', {
      reports: matching.slice((page - 1) * perPage, page * perPage).map((m) => ({
        message_id: m.message_id,
        status: overall(m),
        created_at: m.created_at,
        recipient_count: m.details.length,
        content_preview: m.content.slice(0, 50),
        sender_id: m.sender_id,
      })),
      pagination: { page, per_page: perPage, total: matching.length, pages: Math.ceil(matching.length / perPage) },
    });
  });

  sim.route('GET', `${MIFUMO_PATH}/sms/balance/`, (request) => {
    const refused = guard(request, 'balance');
    if (refused) return refused;
    return ok('Balance retrieved successfully', {
      account_id: 'ACC-SIM001',
      balance: Math.round(balance * 100) / 100,
      currency: 'USD',
      last_updated: new Date().toISOString(),
    });
  });

  return sim;
}

function overall(message: StoredMessage): string {
  const statuses = new Set(message.details.map((d) => d.status));
  if (statuses.size === 1) return [...statuses][0]!;
  return statuses.has('sent') || statuses.has('pending') ? 'sent' : 'delivered';
}

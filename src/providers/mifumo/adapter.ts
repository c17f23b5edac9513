/**
 * Mifumo SMS (provider-docs/000): Bearer API key; POST /sms/send/ with the message, E.164
 * recipients and sender_id; GET /sms/status/{message_id}/; GET /sms/balance/; webhooks
 * message.sent / message.delivered / message.failed configured in the Mifumo dashboard.
 *
 * Choices where the document is silent:
 * - One `message_id` covers every recipient of a request, so a delivery is identified by
 *   (message_id, recipient), in callbacks and in status answers.
 * - The document caps `message` at 160 characters: the router does not give Mifumo longer
 *   texts (capabilities.carries); should one come anyway it is not sent (a permanent failure,
 *   so the delivery moves on to the next provider of its route). Mifumo documents no error for
 *   a lack of credit, so none is recognised as one.
 * - Requests carry at most 100 recipients (the document gives no limit).
 * - Mifumo has no field for our reference. A submission whose answer is lost (a timeout, a
 *   dropped connection, a 5xx, a garbled body) is looked for before anything is resent: the
 *   delivery reports created since the lost try (less 2 minutes for clocks apart) whose
 *   sender_id is ours and whose content_preview starts our text, then each one's status, whose
 *   delivery_details name the recipients (findSubmitted). A recipient found there is taken as
 *   sent under that message_id; only the others are sent again. The document does not say how
 *   long a preview is: any non-empty start of our text counts.
 * - `SMS_SEND_FAILED` and `INTERNAL_ERROR` are retried; the request errors (bad numbers, empty
 *   text) and credential errors are permanent.
 * - A message with no final report is polled on its status endpoint as a safety net.
 */
import { failAll, httpFailure, httpJson, transportFailure, unreadableAnswer, type HttpResult } from '../http.ts';
import type { FoundSubmission, ProviderDeps, SmsProvider, StatusQuery, StatusReport, SubmitBatch, SubmitOutcome, OutboundSms, UnconfirmedSms } from '../types.ts';
import { parseMifumoCallback } from './callback.ts';
import { mapMifumoError, mapMifumoStatus } from './status-map.ts';
import { dateOrUndefined } from '../../shared/dates.ts';
import { groupBy } from '../../shared/group-by.ts';
import { pollEach } from '../poll-each.ts';

export const MIFUMO_PATH = '/api/integration/v1';
export const MIFUMO_MAX_TEXT = 160;

export type MifumoConfig = { baseUrl: string; apiKey: string };

type Envelope = { success?: boolean; message?: string; error_code?: string | null; data?: Record<string, unknown> };

export function createMifumoProvider(config: MifumoConfig, deps: ProviderDeps): SmsProvider {
  const base = `${config.baseUrl.replace(/\/+$/, '')}${MIFUMO_PATH}`;
  const headers = { authorization: `Bearer ${config.apiKey}` };
  const call = (method: 'GET' | 'POST', path: string, body?: unknown) =>
    httpJson({ method, url: `${base}${path}`, headers, body, timeoutMs: deps.timeoutMs, pace: deps.pace });

  async function sendOne(senderId: string, text: string, items: OutboundSms[]): Promise<SubmitOutcome[]> {
    if (text.length > MIFUMO_MAX_TEXT) {
      return failAll(items, {
        permanent: true,
        errorCode: 'MIFUMO_MESSAGE_TOO_LONG',
        errorMessage: `Mifumo takes at most ${MIFUMO_MAX_TEXT} characters; this text has ${text.length}`,
      });
    }
    const result = await call('POST', '/sms/send/', {
      message: text,
      recipients: items.map((item) => item.recipient),
      sender_id: senderId,
    });
    const failure = requestFailure(result);
    if (failure) return failAll(items, failure);
    const { json } = result as Extract<HttpResult, { ok: true }>;
    const data = (json as Envelope).data ?? {};
    const messageId = data.message_id;
    const accepted = Array.isArray(data.recipients) ? new Set(data.recipients as unknown[]) : undefined;
    return items.map((item): SubmitOutcome =>
      typeof messageId === 'string' && (!accepted || accepted.has(item.recipient))
        ? { deliveryId: item.deliveryId, outcome: 'accepted', providerMessageId: messageId, raw: json }
        : {
            deliveryId: item.deliveryId,
            outcome: 'failed',
            permanent: true,
            status: 'REJECTED',
            errorCode: 'MIFUMO_RECIPIENT_NOT_ACCEPTED',
            errorMessage: 'Mifumo did not list this recipient as accepted',
            raw: json,
          },
    );
  }

  /** The per-recipient details of one of our messages at Mifumo; throws when Mifumo cannot be asked. */
  async function deliveryDetails(messageId: string): Promise<Array<Record<string, unknown>>> {
    const result = await call('GET', `/sms/status/${encodeURIComponent(messageId)}/`);
    const failure = requestFailure(result);
    if (failure) throw new Error(`Mifumo status of ${messageId}: ${failure.errorMessage}`);
    const details = ((result as Extract<HttpResult, { ok: true }>).json as Envelope).data?.delivery_details;
    return Array.isArray(details) ? (details as Array<Record<string, unknown>>) : [];
  }

  return {
    name: 'mifumo',
    capabilities: {
      maxBatchSize: 100,
      reports: 'callback',
      firstPollAfterMs: 10 * 60_000,
      maxRequestsPerSecond: 100 / 60,
      personalisation: 'rendered',
      scheduling: true,
      recognisesRetries: false,
      // "max 160 characters", in any encoding; a UCS-2 text over 70 goes out joined.
      carries: { maxCharacters: MIFUMO_MAX_TEXT, multipart: true, encodings: ['GSM7', 'UCS2'] },
      balance: true,
    },

    async send(batch: SubmitBatch) {
      const byText = groupBy(batch.items, (item) => item.text);
      const outcomes = await Promise.all([...byText].map(([text, items]) => sendOne(batch.senderId, text, items)));
      return outcomes.flat();
    },

    async fetchStatus(queries: StatusQuery[]) {
      const byMessage = [...groupBy(queries, (q) => q.providerMessageId)];
      return pollEach(
        byMessage,
        async ([messageId, group]) => {
          const reports: StatusReport[] = [];
          for (const detail of await deliveryDetails(messageId)) {
            const query = group.find((q) => q.recipient === detail.recipient);
            const mapped = typeof detail.status === 'string' ? mapMifumoStatus(detail.status) : undefined;
            if (!query || !mapped || mapped.status === 'SENT') continue;
            reports.push({
              deliveryId: query.deliveryId,
              status: mapped.status,
              errorCode: mapped.errorCode,
              errorMessage: typeof detail.error_message === 'string' ? detail.error_message : mapped.errorMessage,
              at: dateOrUndefined(typeof detail.delivered_at === 'string' ? detail.delivered_at : undefined),
              raw: detail,
            });
          }
          return reports;
        },
        { logger: deps.logger, provider: 'Mifumo' },
      );
    },

    async fetchBalance() {
      const result = await call('GET', '/sms/balance/');
      const failure = requestFailure(result);
      if (failure) throw new Error(`Mifumo balance: ${failure.errorMessage}`);
      const data = ((result as Extract<HttpResult, { ok: true }>).json as Envelope).data ?? {};
      return { amount: String(data.balance ?? '0'), currency: String(data.currency ?? '') };
    },

    async findSubmitted(items: UnconfirmedSms[]) {
      const since = new Date(Math.min(...items.map((item) => item.since.getTime())) - CLOCK_SKEW_MS);
      const candidates = (await reportsSince(since)).filter((report) =>
        items.some((item) => report.sender_id === item.senderId && isPreviewOf(report.content_preview, item.text)),
      );
      // Every match: the same text to the same number may be another delivery's, sent before.
      const found: FoundSubmission[] = [];
      for (const candidate of candidates) {
        for (const detail of await deliveryDetails(candidate.message_id)) {
          for (const item of items) {
            if (item.recipient !== detail.recipient || item.senderId !== candidate.sender_id || !isPreviewOf(candidate.content_preview, item.text)) continue;
            found.push({ deliveryId: item.deliveryId, providerMessageId: candidate.message_id, raw: detail });
          }
        }
      }
      return found;
    },

    parseCallback: parseMifumoCallback,
  };

  /** Every message Mifumo lists as created since `since`, newest pages included; throws when it cannot be asked. */
  async function reportsSince(since: Date): Promise<Report[]> {
    const reports: Report[] = [];
    for (let page = 1; page <= MAX_REPORT_PAGES; page += 1) {
      const query = new URLSearchParams({ start_date: since.toISOString(), page: String(page), per_page: '100' });
      const result = await call('GET', `/sms/delivery-reports/?${query.toString()}`);
      const failure = requestFailure(result);
      if (failure) throw new Error(`Mifumo delivery reports: ${failure.errorMessage}`);
      const data = ((result as Extract<HttpResult, { ok: true }>).json as Envelope).data ?? {};
      const listed = Array.isArray(data.reports) ? (data.reports as unknown[]).filter(isReport) : [];
      reports.push(...listed);
      const pages = Number((data.pagination as { pages?: unknown } | undefined)?.pages ?? 1);
      if (listed.length === 0 || page >= pages) break;
    }
    return reports;
  }
}

type Report = { message_id: string; sender_id: string; content_preview: string; created_at?: string };

/** How far Mifumo's clock may be behind ours when we ask what it took since a time. */
const CLOCK_SKEW_MS = 2 * 60_000;
const MAX_REPORT_PAGES = 20;

function isReport(value: unknown): value is Report {
  const r = value as Partial<Report> | null;
  return typeof r === 'object' && r !== null && typeof r.message_id === 'string' && typeof r.sender_id === 'string' && typeof r.content_preview === 'string';
}

/** The report's preview is the start of our text (the document does not say how long a preview is). */
function isPreviewOf(preview: string, text: string): boolean {
  return preview.length > 0 && text.startsWith(preview);
}

/** The failure a whole request ended in, or undefined when Mifumo accepted it. */
function requestFailure(result: HttpResult) {
  if (!result.ok) return transportFailure(result);
  const overload = httpFailure(result);
  if (overload) return overload;
  const envelope = result.json as Envelope | undefined;
  if (!envelope || typeof envelope !== 'object' || typeof envelope.success !== 'boolean') {
    return unreadableAnswer(result);
  }
  if (envelope.success && result.status < 400) return undefined;
  const mapped = mapMifumoError(envelope.error_code);
  return {
    permanent: mapped.permanent,
    status: mapped.status === 'REJECTED' ? ('REJECTED' as const) : ('FAILED' as const),
    errorCode: mapped.errorCode ?? 'MIFUMO_UNKNOWN',
    errorMessage: envelope.message ?? mapped.errorMessage ?? 'request failed',
    raw: envelope,
  };
}

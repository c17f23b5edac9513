/**
 * Mifumo SMS (provider-docs/000): Bearer API key; POST /sms/send/ with the message, E.164
 * recipients and sender_id; GET /sms/status/{message_id}/; GET /sms/balance/; webhooks
 * message.sent / message.delivered / message.failed configured in the Mifumo dashboard.
 *
 * Choices where the document is silent:
 * - One `message_id` covers every recipient of a request, so a delivery is identified by
 *   (message_id, recipient), in callbacks and in status answers.
 * - The document caps `message` at 160 characters. Longer texts are not sent (a permanent
 *   failure, so the delivery moves on to the next provider of its route).
 * - Requests carry at most 100 recipients (the document gives no limit).
 * - Mifumo has no field for our reference: a submission whose answer is lost (timeout, garbled
 *   body) is retried and may reach the recipient twice. That is the one provider where it can.
 * - `SMS_SEND_FAILED` and `INTERNAL_ERROR` are retried; the request errors (bad numbers, empty
 *   text) and credential errors are permanent.
 * - A message with no final report is polled on its status endpoint as a safety net.
 */
import { failAll, httpFailure, httpJson, transportFailure, type HttpResult } from '../http.ts';
import type { ProviderDeps, SmsProvider, StatusQuery, StatusReport, SubmitBatch, SubmitOutcome, OutboundSms } from '../types.ts';
import { parseMifumoCallback } from './callback.ts';
import { mapMifumoError, mapMifumoStatus } from './status-map.ts';
import { dateOrUndefined } from '../../shared/dates.ts';
import { groupBy } from '../../shared/group-by.ts';

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
    },

    async send(batch: SubmitBatch) {
      const byText = groupBy(batch.items, (item) => item.text);
      const outcomes = await Promise.all([...byText].map(([text, items]) => sendOne(batch.senderId, text, items)));
      return outcomes.flat();
    },

    async fetchStatus(queries: StatusQuery[]) {
      const byMessage = groupBy(queries, (q) => q.providerMessageId);
      const reports: StatusReport[] = [];
      for (const [messageId, group] of byMessage) {
        const result = await call('GET', `/sms/status/${encodeURIComponent(messageId)}/`);
        const failure = requestFailure(result);
        if (failure) throw new Error(`Mifumo status of ${messageId}: ${failure.errorMessage}`);
        const details = ((result as Extract<HttpResult, { ok: true }>).json as Envelope).data?.delivery_details;
        if (!Array.isArray(details)) continue;
        for (const detail of details as Array<Record<string, unknown>>) {
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
      }
      return reports;
    },

    async fetchBalance() {
      const result = await call('GET', '/sms/balance/');
      const failure = requestFailure(result);
      if (failure) throw new Error(`Mifumo balance: ${failure.errorMessage}`);
      const data = ((result as Extract<HttpResult, { ok: true }>).json as Envelope).data ?? {};
      return { amount: String(data.balance ?? '0'), currency: String(data.currency ?? '') };
    },

    parseCallback: parseMifumoCallback,
  };
}

/** The failure a whole request ended in, or undefined when Mifumo accepted it. */
function requestFailure(result: HttpResult) {
  if (!result.ok) return transportFailure(result);
  const overload = httpFailure(result);
  if (overload) return overload;
  const envelope = result.json as Envelope | undefined;
  if (!envelope || typeof envelope !== 'object' || typeof envelope.success !== 'boolean') {
    return { permanent: false, errorCode: 'PROVIDER_BAD_RESPONSE', errorMessage: `unreadable answer (HTTP ${result.status})`, raw: result.text.slice(0, 500) };
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

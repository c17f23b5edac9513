import { z } from 'zod';
import { MalformedCallbackError, type CallbackReport, type CallbackRequest } from '../types.ts';
import { dateOrUndefined } from '../../shared/dates.ts';
import { MIFUMO_EVENTS, mapMifumoStatus } from './status-map.ts';

/** The documented webhook payload (provider-docs/000, "Webhook Payload"). */
const webhook = z.object({
  event: z.enum(['message.sent', 'message.delivered', 'message.failed']),
  message_id: z.string().min(1),
  recipient: z.string().min(1),
  status: z.string().optional(),
  delivered_at: z.string().nullish(),
  error_message: z.string().nullish(),
  timestamp: z.string().nullish(),
});

export function parseMifumoCallback(request: CallbackRequest): CallbackReport[] {
  const parsed = webhook.safeParse(request.body);
  if (!parsed.success) throw new MalformedCallbackError(`not a Mifumo webhook: ${parsed.error.issues[0]?.message}`);
  const payload = parsed.data;
  // The event names the change; `status` repeats it and loses to it if they disagree.
  const mapped = mapMifumoStatus(MIFUMO_EVENTS[payload.event]!)!;
  const at = payload.delivered_at ?? payload.timestamp;
  return [
    {
      match: { providerMessageId: payload.message_id, recipient: payload.recipient },
      status: mapped.status,
      errorCode: mapped.errorCode,
      errorMessage: payload.error_message ?? mapped.errorMessage,
      at: dateOrUndefined(at),
      raw: request.body,
    },
  ];
}

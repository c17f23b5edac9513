import { z } from 'zod';
import { MalformedCallbackError, type CallbackReport, type CallbackRequest, type StatusMapping } from '../types.ts';
import { lookupMtnCongoStatus, MTN_CONGO_UNKNOWN_STATUS } from './status-map.ts';

const idSchema = z.union([z.string().min(1), z.number()]).transform(String);

const receiverReportSchema = z.object({
  receiver: idSchema,
  status: z.string().min(1),
  date: z.string().nullish(),
  motif: z.string().nullish(),
});

/**
 * Our assumption of the status answer (the document shows none), which is also the callback
 * body, then listing the receivers whose status changed:
 * `{"status": "ok", "id": 26, "externalId": "...", "receivers": [{"receiver": "242068463491",
 * "status": "delivre", "date": "2026-11-22T10:05:00Z", "motif": null}]}`.
 */
export const statusAnswerSchema = z.object({
  id: idSchema,
  externalId: z.union([z.string(), z.number()]).nullish(),
  receivers: z.array(receiverReportSchema),
});

export type StatusAnswer = z.infer<typeof statusAnswerSchema>;
export type ReceiverReport = StatusAnswer['receivers'][number];

export type ReadReport = Pick<StatusMapping, 'status' | 'errorCode' | 'errorMessage'> & { at?: Date };

/** Our status for one receiver's entry; `onUnknownStatus` hears of status words we do not know. */
export function readReceiverReport(entry: ReceiverReport, onUnknownStatus: (raw: string) => void): ReadReport {
  let mapped = lookupMtnCongoStatus(entry.status);
  if (!mapped) {
    onUnknownStatus(entry.status);
    mapped = MTN_CONGO_UNKNOWN_STATUS;
  }
  return {
    status: mapped.status,
    errorCode: mapped.errorCode,
    // `motif` explains a failure; on a success it has nothing to say.
    errorMessage: mapped.errorCode ? (entry.motif ?? mapped.errorMessage) : null,
    at: entry.date ? parseMtnCongoDate(entry.date) : undefined,
  };
}

export function parseMtnCongoCallback(request: CallbackRequest, onUnknownStatus: (raw: string) => void): CallbackReport[] {
  const parsed = statusAnswerSchema.safeParse(request.body);
  if (!parsed.success) throw new MalformedCallbackError(`not an MTN Congo status report: ${describe(parsed.error)}`);
  const { id, receivers } = parsed.data;
  if (receivers.length === 0) throw new MalformedCallbackError('not an MTN Congo status report: no receivers');
  // One MTN id covers every receiver of a request; the adapter never puts a number twice in one.
  return receivers.map((entry) => ({
    match: { providerMessageId: id, recipient: entry.receiver },
    ...readReceiverReport(entry, onUnknownStatus),
    raw: request.body,
  }));
}

/**
 * Dates as in the document's `date_envois` ("2021-07-22T07:18:08.831717") have no zone: we read
 * them as Brazzaville time (UTC+01:00). Unreadable dates are left out.
 */
export function parseMtnCongoDate(text: string): Date | undefined {
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text}+01:00`;
  const at = new Date(zoned);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || '(body)'}: ${issue.message}` : 'unexpected shape';
}

/**
 * MTN Congo SMS API (provider-docs/002, in French): `Authorization: Token <token>`; one endpoint,
 * POST {origin}/api/sms/, for plain bulk (`msg`, comma-separated `receivers`), personalised bulk
 * (`msg` with :P1 :P2 filled from `params` lines), and the status check `{"op": "status", "id"}`;
 * `externalId` and `callback_url` travel with every submission.
 *
 * Choices where the document is silent or contradicts itself:
 * - Authorization: the prose says `Token-xxxx`, both examples `Token xxxx` (the usual Django
 *   REST Framework form). We send `Token <token>`; the simulator accepts both forms.
 *   Content-Type is the examples' `application/json; charset=utf-8`.
 * - MTN_CONGO_BASE_URL is an origin; a value ending in /api/sms (the document calls
 *   https://sms.mtncongo.net/api/sms/ "the base URL") is taken as meaning the same endpoint.
 * - Receivers are written as in the example: international digits, no plus, comma-separated.
 *   A number appears at most once per request (the example repeats one; we split such batches),
 *   so MTN's id and the receiver together name one delivery in status answers and callbacks.
 * - The e-mail copy (`msg_mail`, `objet_mail`, `email`, `isemail`) is not used: those fields are
 *   left out, and `date_envois` too (the gateway holds scheduled messages until they are due).
 * - Personalisation: we read the example's `params` line `ASSEH;Brel;info@besnode.com;242064504545`
 *   as the values of :P1..:Pn, then the e-mail address, then the receiver (the personalised
 *   example has no `receivers`). We send the e-mail field empty (`Brel;Hegel;;242057360000`).
 *   A template's `{{name}}` placeholders become :P1, :P2... in order of first appearance. An
 *   item goes natively only if its values hold no `;` or line break (the format cannot escape
 *   them) and filling `:P<n>` (all digits after :P read as the number) gives exactly its text;
 *   otherwise it is sent rendered, in a plain request per distinct text.
 * - The document shows no answers. We assume: a submission is answered 200 with
 *   `{"status": "ok", "id": 26, "externalId": "...", "nb_receivers": 2}`, the id the status
 *   check takes (a number or a string; we keep it as a string); a refusal with HTTP 4xx and
 *   `{"status": "error", "code": "INVALID_TOKEN", "message": "..."}` (codes in status-map.ts;
 *   an INVALID_RECEIVERS answer lists the numbers in `invalid`); the status check answers
 *   `{"status": "ok", "id", "externalId", "receivers": [{"receiver", "status", "date", "motif"}]}`
 *   with the statuses en_attente, envoye, delivre, echec, rejete, expire (read case- and
 *   accent-insensitively). 401/403 without a code we know count as a wrong token. Other codes
 *   we do not know fail the request as retryable MTN_CONGO_UNKNOWN, and are logged.
 * - A status word we do not know is logged and leaves the delivery SENT (no guess at its fate).
 * - Callbacks: the document only names `callback_url`. We take its body to be the status
 *   answer, listing the receivers whose status changed (see callback.ts); dates without a zone
 *   are Brazzaville time (UTC+01:00). The status check remains as a safety net, after 15 min.
 * - externalId: one per request, a UUID (not a number as in the example: our ids are UUIDs)
 *   derived from the batch's submission reference and the request's delivery ids. The same
 *   deliveries under the same reference, i.e. a retry, give the same externalId, and we assume
 *   MTN answers a repeated externalId with the original id instead of sending again (as the
 *   simulator does); any other set of deliveries gives a new externalId, so a retry of part of
 *   a submission can never be mistaken for the whole of it (at worst it is sent twice).
 * - A submission whose answer was lost (a timeout, a dropped connection, a 5xx, an unreadable
 *   body) is not looked up: the status check takes MTN's `id`, which the lost answer held, and
 *   the document gives no way to ask by externalId. It is sent again under the same externalId,
 *   which (as assumed above) MTN answers with the original id instead of sending again.
 * - Receivers refused as invalid (INVALID_RECEIVERS) are REJECTED; the others of that request
 *   fail retryably (MTN_CONGO_REFUSED_WITH_OTHERS) and go again without them.
 * - No documented limits: at most 500 receivers per request, 5 requests per second, 4 at a time.
 * - There is no balance endpoint; fetchBalance says so instead of inventing one.
 * - The token is never logged (nor the callback URL, which holds our callback secret).
 */
import { z } from 'zod';
import { failAll, httpFailure, httpJson, transportFailure, unreadableAnswer, type HttpResult } from '../http.ts';
import type { OutboundSms, ProviderDeps, SmsProvider, StatusMapping, StatusQuery, StatusReport, SubmitBatch, SubmitOutcome } from '../types.ts';
import { parseMtnCongoCallback, readReceiverReport, statusAnswerSchema, type StatusAnswer } from './callback.ts';
import { MTN_CONGO_MAX_RECEIVERS, planRequests, type PlannedRequest } from './plan.ts';
import { lookupMtnCongoError, MTN_CONGO_REFUSED_WITH_OTHERS, MTN_CONGO_UNKNOWN_ERROR } from './status-map.ts';
import { MTN_CONGO_PATH, sameReceiver } from './wire.ts';
import pMap from 'p-map';
import { CARRIES_ANYTHING } from '../capabilities.ts';
import { pollEach } from '../poll-each.ts';
import { groupBy } from '../../shared/group-by.ts';

export type MtnCongoConfig = { baseUrl: string; token: string };

/** Requests of one batch (several texts, split duplicates) or one poll made at the same time. */
const CONCURRENT_REQUESTS = 4;

type Answered = Extract<HttpResult, { ok: true }>;
type Failure = Parameters<typeof failAll>[1];

const sendAnswerSchema = z.object({ id: z.union([z.string().min(1), z.number()]).transform(String) });
const errorAnswerSchema = z.object({
  code: z.string().optional(),
  message: z.string().optional(),
  invalid: z.array(z.string()).optional(),
});

export function createMtnCongoProvider(config: MtnCongoConfig, deps: ProviderDeps): SmsProvider {
  const url = endpointOf(config.baseUrl);
  const headers = { authorization: `Token ${config.token}`, 'content-type': 'application/json; charset=utf-8' };
  const post = (body: unknown) => httpJson({ method: 'POST', url, headers, body, timeoutMs: deps.timeoutMs, pace: deps.pace });
  const warnUnknownStatus = (status: string) =>
    deps.logger.warn({ status }, 'MTN Congo reported a status this gateway does not know; the delivery stays SENT');

  async function submit(batch: SubmitBatch, request: PlannedRequest): Promise<SubmitOutcome[]> {
    const result = await post({
      ...request.content,
      sender: batch.senderId,
      externalId: request.externalId,
      ...(batch.callbackUrl ? { callback_url: batch.callbackUrl } : {}),
    });
    if (!result.ok) return failAll(request.items, transportFailure(result));
    const overload = httpFailure(result);
    if (overload) return failAll(request.items, overload);
    if (isRefusal(result)) return refusal(request.items, result);
    const answer = sendAnswerSchema.safeParse(result.json);
    if (!answer.success) return failAll(request.items, unreadableAnswer(result));
    return request.items.map((item) => ({
      deliveryId: item.deliveryId,
      outcome: 'accepted' as const,
      providerMessageId: answer.data.id,
      raw: result.json,
    }));
  }

  function refusal(items: OutboundSms[], result: Answered): SubmitOutcome[] {
    const answer = errorAnswerSchema.safeParse(result.json);
    const body = answer.success ? answer.data : {};
    const code = refusalCode(body.code, result.status);
    let mapping = lookupMtnCongoError(code);
    if (!mapping) {
      deps.logger.warn({ httpStatus: result.status, answer: result.text.slice(0, 500) }, 'MTN Congo refused a request with an answer this gateway does not know');
      mapping = MTN_CONGO_UNKNOWN_ERROR;
    }
    const failure = { ...failureOf(mapping), errorMessage: body.message ?? mapping.errorMessage!, raw: result.json ?? result.text.slice(0, 500) };
    const invalid = code === 'INVALID_RECEIVERS' ? (body.invalid ?? []) : [];
    const refusedItems = items.filter((item) => invalid.some((receiver) => sameReceiver(item.recipient, receiver)));
    if (refusedItems.length === 0 || refusedItems.length === items.length) return failAll(items, failure);
    const others = items.filter((item) => !refusedItems.includes(item));
    return [...failAll(refusedItems, failure), ...failAll(others, { ...failureOf(MTN_CONGO_REFUSED_WITH_OTHERS), raw: failure.raw })];
  }

  async function statusOf(id: string, queries: StatusQuery[]): Promise<StatusReport[]> {
    const result = await post({ op: 'status', id });
    if (!result.ok) throw new Error(`MTN Congo status of ${id}: ${transportFailure(result).errorMessage}`);
    const overload = httpFailure(result);
    if (overload) throw new Error(`MTN Congo status of ${id}: ${overload.errorMessage}`);
    if (isRefusal(result)) {
      const answer = errorAnswerSchema.safeParse(result.json);
      const code = answer.success ? answer.data.code : undefined;
      if (code === 'NOT_FOUND') {
        deps.logger.warn({ providerMessageId: id }, 'MTN Congo does not know this submission; its deliveries wait for the report timeout');
        return [];
      }
      throw new Error(`MTN Congo status of ${id}: refused (HTTP ${result.status}${code ? `, ${code}` : ''})`);
    }
    const answer = statusAnswerSchema.safeParse(result.json);
    if (!answer.success) throw new Error(`MTN Congo status of ${id}: unreadable answer (HTTP ${result.status})`);
    return reportsFor(answer.data, queries);
  }

  function reportsFor(answer: StatusAnswer, queries: StatusQuery[]): StatusReport[] {
    const reports: StatusReport[] = [];
    for (const entry of answer.receivers) {
      const query = queries.find((q) => sameReceiver(q.recipient, entry.receiver));
      if (!query) continue;
      const read = readReceiverReport(entry, warnUnknownStatus);
      if (read.status !== 'SENT') reports.push({ deliveryId: query.deliveryId, ...read, raw: entry });
    }
    return reports;
  }

  return {
    name: 'mtn_congo',
    capabilities: {
      maxBatchSize: MTN_CONGO_MAX_RECEIVERS,
      reports: 'callback',
      firstPollAfterMs: 15 * 60_000,
      maxRequestsPerSecond: 5,
      personalisation: 'native',
      scheduling: true,
      recognisesRetries: true,
      carries: CARRIES_ANYTHING,
      balance: false,
    },

    async send(batch: SubmitBatch) {
      const outcomes = await pMap(planRequests(batch), (request) => submit(batch, request), { concurrency: CONCURRENT_REQUESTS });
      return outcomes.flat();
    },

    async fetchStatus(queries: StatusQuery[]) {
      const byId = [...groupBy(queries, (q) => q.providerMessageId)];
      return pollEach(byId, ([id, group]) => statusOf(id, group), { logger: deps.logger, provider: 'MTN Congo', concurrency: CONCURRENT_REQUESTS });
    },

    async fetchBalance() {
      throw new Error("MTN Congo's API offers no balance endpoint (provider-docs/002); see the balance in MTN Congo's web interface");
    },

    parseCallback: (request) => parseMtnCongoCallback(request, warnUnknownStatus),
  };
}

/** The one endpoint, from an origin (or from the document's "base URL", which already ends in /api/sms/). */
function endpointOf(baseUrl: string): string {
  return `${baseUrl.replace(/\/+$/, '').replace(/\/api\/sms$/, '')}${MTN_CONGO_PATH}`;
}

function isRefusal(result: Answered): boolean {
  const json = result.json as { status?: unknown } | undefined;
  return result.status >= 400 || (typeof json === 'object' && json !== null && json.status === 'error');
}

/** The code of a refusal; without one we know, 401 and 403 can only mean the token. */
function refusalCode(code: string | undefined, httpStatus: number): string | undefined {
  if (lookupMtnCongoError(code)) return code;
  return httpStatus === 401 || httpStatus === 403 ? 'INVALID_TOKEN' : code;
}

function failureOf(mapping: StatusMapping): Failure {
  return {
    permanent: mapping.permanent,
    status: mapping.status === 'REJECTED' ? 'REJECTED' : 'FAILED',
    errorCode: mapping.errorCode ?? MTN_CONGO_UNKNOWN_ERROR.errorCode!,
    errorMessage: mapping.errorMessage ?? '',
  };
}



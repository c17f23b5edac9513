/**
 * An MTN Congo SMS API on loopback, per provider-docs/002 and the assumptions written in
 * adapter.ts: POST /api/sms/ with `Authorization: Token <token>` (or the prose's `Token-<token>`)
 * and a JSON body, for plain and personalised submissions and `{"op": "status", "id"}`.
 *
 * - Refusals: 401 AUTHENTICATION_REQUIRED (no or malformed header) or INVALID_TOKEN; 415
 *   UNSUPPORTED_MEDIA_TYPE (not JSON); 400 INVALID_JSON, MISSING_MSG, MISSING_SENDER,
 *   MISSING_RECEIVERS, INVALID_RECEIVERS (with `invalid`), INVALID_PARAMS, INVALID_DATE,
 *   INVALID_EXTERNAL_ID, INVALID_CALLBACK_URL, UNKNOWN_OP, MISSING_ID; 404 NOT_FOUND; all as
 *   `{"status": "error", "code", "message"}`.
 * - The e-mail fields (msg_mail, objet_mail, email, isemail) are optional and ignored: no
 *   e-mail is sent. A request with `params` is personalised and takes its receivers from it.
 * - A repeated externalId is a retry of the same submission: answered with the original id,
 *   nothing is sent again.
 * - Each receiver is `envoye` at `date_envois` (at once without one; `en_attente` before), and
 *   reaches its final status `reportDelayMs` later, by `outcomeFor` (last digit: 7 rejete,
 *   8 echec, 9 expire, else delivre). Then, when the request had a `callback_url`, the status
 *   answer for that one receiver is POSTed there.
 */
import { SimulatorServer, type SimRequest, type SimResponse, type SimulatedOutcome, type SimulatorOptions } from '../simulator/server.ts';
import type { MtnCongoConfig } from './adapter.ts';
import { parseMtnCongoDate } from './callback.ts';
import type { MtnCongoStatus } from './status-map.ts';
import { fillPlaceholders, MTN_CONGO_PATH, parseParams, RECEIVER } from './wire.ts';

type ReceiverState = { receiver: string; status: MtnCongoStatus; date: string; motif: string | null };
type Submission = { id: number; externalId: string | number | null; receivers: ReceiverState[] };

/** One SMS the simulator accepted, as it goes to the network. */
export type SimulatedSms = { id: number; receiver: string; sender: string; text: string };

export type MtnCongoSimulator = SimulatorServer & {
  /** Every SMS accepted, with its text as the receiver gets it (personalisation filled in). */
  readonly sms: SimulatedSms[];
};

type Body = Record<string, unknown>;
type Outgoing = { receiver: string; text: string };

const FINAL: Record<SimulatedOutcome, { status: MtnCongoStatus; motif: string | null }> = {
  DELIVERED: { status: 'delivre', motif: null },
  FAILED: { status: 'echec', motif: 'Abonné injoignable' },
  EXPIRED: { status: 'expire', motif: 'Délai de validité dépassé' },
  REJECTED: { status: 'rejete', motif: 'Numéro refusé par le réseau' },
};

export function createMtnCongoSimulator(config: Pick<MtnCongoConfig, 'token'>, options: SimulatorOptions = {}): MtnCongoSimulator {
  const sim = Object.assign(new SimulatorServer('mtn_congo', options), { sms: [] as SimulatedSms[] });
  const submissions = new Map<string, Submission>();
  const byExternalId = new Map<string, Submission>();
  let nextId = 26;

  function submit(body: Body): SimResponse {
    const checked = checkSubmission(body);
    if ('response' in checked) return checked.response;
    const { externalId, sender, outgoing, sendAt, callbackUrl } = checked;
    const previous = externalId === null ? undefined : byExternalId.get(String(externalId));
    if (previous) return accepted(previous);

    const submission: Submission = { id: nextId++, externalId, receivers: [] };
    const waiting = sendAt.getTime() > Date.now();
    for (const sms of outgoing) {
      const state: ReceiverState = { receiver: sms.receiver, status: waiting ? 'en_attente' : 'envoye', date: new Date().toISOString(), motif: null };
      submission.receivers.push(state);
      sim.sms.push({ id: submission.id, receiver: sms.receiver, sender, text: sms.text });
      schedule(submission, state, sendAt, callbackUrl);
    }
    submissions.set(String(submission.id), submission);
    if (externalId !== null) byExternalId.set(String(externalId), submission);
    return accepted(submission);
  }

  function schedule(submission: Submission, state: ReceiverState, sendAt: Date, callbackUrl: string | undefined): void {
    const sendInMs = Math.max(0, sendAt.getTime() - Date.now());
    if (sendInMs > 0) sim.later(sendInMs, () => update(state, 'envoye', null));
    sim.later(sendInMs + sim.reportDelayMs, async () => {
      const outcome = FINAL[sim.outcomeFor(state.receiver)];
      update(state, outcome.status, outcome.motif);
      if (callbackUrl) await sim.callBack(callbackUrl, statusAnswer(submission, [state]));
    });
  }

  function status(body: Body): SimResponse {
    if (body.op !== 'status') return error(400, 'UNKNOWN_OP', `Opération inconnue : ${String(body.op)}`);
    if (typeof body.id !== 'string' && typeof body.id !== 'number') return error(400, 'MISSING_ID', "Le champ id est obligatoire");
    const submission = submissions.get(String(body.id));
    if (!submission) return error(404, 'NOT_FOUND', `Aucun envoi avec l'id ${body.id}`);
    return { status: 200, body: statusAnswer(submission, submission.receivers) };
  }

  sim.route('POST', MTN_CONGO_PATH, (request) => {
    const refused = authenticate(request, config.token);
    if (refused) return refused;
    if (!/^application\/json\b/i.test(String(request.headers['content-type'] ?? ''))) {
      return error(415, 'UNSUPPORTED_MEDIA_TYPE', 'Le type MIME accepté est application/json');
    }
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return error(400, 'INVALID_JSON', 'Le corps doit être un objet JSON');
    return 'op' in body ? status(body as Body) : submit(body as Body);
  });

  return sim;
}

type CheckedSubmission = {
  externalId: string | number | null;
  sender: string;
  outgoing: Outgoing[];
  sendAt: Date;
  callbackUrl: string | undefined;
};

/** A submission's fields, or the refusal they deserve. */
function checkSubmission(body: Body): CheckedSubmission | { response: SimResponse } {
  const refuse = (response: SimResponse) => ({ response });
  const { msg, sender, externalId } = body;
  if (typeof msg !== 'string' || msg.trim() === '') return refuse(error(400, 'MISSING_MSG', 'Le champ msg est obligatoire'));
  if (typeof sender !== 'string' || sender.trim() === '') return refuse(error(400, 'MISSING_SENDER', 'Le champ sender est obligatoire'));
  if (externalId !== undefined && typeof externalId !== 'string' && typeof externalId !== 'number') {
    return refuse(error(400, 'INVALID_EXTERNAL_ID', 'externalId doit être une chaîne ou un nombre'));
  }
  const callbackUrl = body.callback_url;
  if (callbackUrl !== undefined && !isHttpUrl(callbackUrl)) return refuse(error(400, 'INVALID_CALLBACK_URL', "callback_url n'est pas une URL http(s)"));
  const sendAt = body.date_envois === undefined ? new Date() : typeof body.date_envois === 'string' ? parseMtnCongoDate(body.date_envois) : undefined;
  if (!sendAt) return refuse(error(400, 'INVALID_DATE', "date_envois n'est pas une date"));
  const outgoing = body.params !== undefined ? personalised(msg, body.params) : plain(msg, body.receivers);
  if (!Array.isArray(outgoing)) return refuse(outgoing);
  return { externalId: externalId ?? null, sender, outgoing, sendAt, callbackUrl: callbackUrl as string | undefined };
}

function plain(msg: string, receivers: unknown): Outgoing[] | SimResponse {
  if (typeof receivers !== 'string' || receivers.trim() === '') return error(400, 'MISSING_RECEIVERS', 'Le champ receivers est obligatoire');
  const list = receivers.split(',').map((r) => r.trim());
  const invalid = list.filter((r) => !RECEIVER.test(r));
  if (invalid.length > 0) return invalidReceivers(invalid);
  return list.map((receiver) => ({ receiver, text: msg }));
}

function personalised(msg: string, params: unknown): Outgoing[] | SimResponse {
  if (typeof params !== 'string') return error(400, 'INVALID_PARAMS', 'params doit être une chaîne');
  const parsed = parseParams(params);
  if (!parsed.ok) return error(400, 'INVALID_PARAMS', parsed.problem);
  const invalid = parsed.lines.map((line) => line.receiver).filter((r) => !RECEIVER.test(r));
  if (invalid.length > 0) return invalidReceivers(invalid);
  const outgoing: Outgoing[] = [];
  for (const [i, line] of parsed.lines.entries()) {
    const text = fillPlaceholders(msg, line.values);
    if (text === undefined) return error(400, 'INVALID_PARAMS', `ligne ${i + 1} : il manque des valeurs pour le message`);
    outgoing.push({ receiver: line.receiver, text });
  }
  return outgoing;
}

function authenticate(request: SimRequest, token: string): SimResponse | undefined {
  const header = request.headers.authorization;
  const given = typeof header === 'string' ? /^Token[ -](\S+)$/i.exec(header.trim())?.[1] : undefined;
  if (given === undefined) return error(401, 'AUTHENTICATION_REQUIRED', "En-tête Authorization manquant ou mal formé (attendu : Token <token>)");
  if (given !== token) return error(401, 'INVALID_TOKEN', 'Token invalide');
  return undefined;
}

function update(state: ReceiverState, status: MtnCongoStatus, motif: string | null): void {
  state.status = status;
  state.motif = motif;
  state.date = new Date().toISOString();
}

function accepted(submission: Submission): SimResponse {
  return {
    status: 200,
    body: { status: 'ok', id: submission.id, externalId: submission.externalId, nb_receivers: submission.receivers.length },
  };
}

function statusAnswer(submission: Submission, receivers: ReceiverState[]) {
  return { status: 'ok', id: submission.id, externalId: submission.externalId, receivers: receivers.map((r) => ({ ...r })) };
}

function invalidReceivers(invalid: string[]): SimResponse {
  const response = error(400, 'INVALID_RECEIVERS', `Numéros invalides : ${invalid.join(', ')}`);
  return { ...response, body: { ...(response.body as object), invalid } };
}

function error(status: number, code: string, message: string): SimResponse {
  return {
    status,
    body: { status: 'error', code, message },
    ...(status === 401 ? { headers: { 'www-authenticate': 'Token' } } : {}),
  };
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

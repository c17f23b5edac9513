/**
 * The parts of MTN Congo's request format the adapter writes and the simulator reads: the one
 * endpoint, receivers as international digits, and personalised messages (`:P1 :P2` in `msg`,
 * filled from the `params` lines). See adapter.ts for how we read the document.
 */

/** The document gives `https://sms.mtncongo.net/api/sms/` as "the base URL": every request goes there. */
export const MTN_CONGO_PATH = '/api/sms/';

/** `params`: one line per receiver, `\r\n` between lines, `;` between fields. */
export const PARAMS_LINE_BREAK = '\r\n';
export const PARAMS_FIELD_SEPARATOR = ';';

/** Receivers are written as in the document's example: international digits without the plus. */
export const RECEIVER = /^[1-9]\d{7,14}$/;

/**
 * One line of `params`, as we read the document's example
 * (`ASSEH;Brel;info@besnode.com;242064504545`): the values of :P1..:Pn, then the e-mail address
 * for the e-mail copy (empty when there is none), then the receiver.
 */
export type ParamsLine = { values: string[]; email: string; receiver: string };

export function toReceiver(e164: string): string {
  return e164.replace(/\D/g, '');
}

/** Whether a value can travel in a `params` field: the format has no way to escape its separators. */
export function fitsParamsField(value: string): boolean {
  return !/[;\r\n]/.test(value);
}

export function formatParams(lines: ParamsLine[]): string {
  return lines.map((line) => [...line.values, line.email, line.receiver].join(PARAMS_FIELD_SEPARATOR)).join(PARAMS_LINE_BREAK);
}

/** The lines of `params`, or what is wrong with them (1-based line numbers). */
export function parseParams(params: string): { ok: true; lines: ParamsLine[] } | { ok: false; problem: string } {
  const lines: ParamsLine[] = [];
  for (const [i, text] of params.split(PARAMS_LINE_BREAK).entries()) {
    if (text === '') continue;
    if (/[\r\n]/.test(text)) return { ok: false, problem: `ligne ${i + 1} : les lignes sont séparées par \\r\\n` };
    const fields = text.split(PARAMS_FIELD_SEPARATOR);
    if (fields.length < 2) return { ok: false, problem: `ligne ${i + 1} : attendu "P1;...;Pn;email;numéro"` };
    const receiver = fields.pop()!.trim();
    const email = fields.pop()!.trim();
    if (email !== '' && !/^[^@\s]+@[^@\s]+$/.test(email)) return { ok: false, problem: `ligne ${i + 1} : adresse e-mail invalide` };
    lines.push({ values: fields, email, receiver });
  }
  return lines.length > 0 ? { ok: true, lines } : { ok: false, problem: 'params ne contient aucune ligne' };
}

/**
 * Fills `:P<n>` with the n-th value, the way we assume MTN Congo does: every digit after `:P`
 * belongs to the number (`:P12` is the twelfth value). Undefined when a value is missing.
 */
export function fillPlaceholders(msg: string, values: string[]): string | undefined {
  let complete = true;
  const text = msg.replace(/:P(\d+)/g, (_whole, n: string) => {
    const value = values[Number(n) - 1];
    if (value === undefined) complete = false;
    return value ?? '';
  });
  return complete ? text : undefined;
}

/** Same placeholder syntax as src/messages/template.ts. */
const OUR_PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;

/** Our `{{name}}` template in MTN Congo's form: names become :P1, :P2... in order of first appearance. */
export function toNativeTemplate(template: string): { msg: string; names: string[] } {
  const names: string[] = [];
  const msg = template.replace(OUR_PLACEHOLDER, (_whole, name: string) => {
    if (!names.includes(name)) names.push(name);
    return `:P${names.indexOf(name) + 1}`;
  });
  return { msg, names };
}

/** Whether MTN Congo's receiver is our E.164 number (also when written nationally, 06...). */
export function sameReceiver(e164: string, receiver: string): boolean {
  const ours = toReceiver(e164);
  const theirs = toReceiver(receiver);
  return ours === theirs || (theirs.length >= 9 && ours.endsWith(theirs.replace(/^0+/, '')));
}

import { v5 as uuidv5 } from 'uuid';
import type { OutboundSms, SubmitBatch } from '../types.ts';
import { fillPlaceholders, fitsParamsField, formatParams, toNativeTemplate, toReceiver, type ParamsLine } from './wire.ts';

/** Receivers per request: the document gives no limit; this one is ours, and conservative. */
export const MTN_CONGO_MAX_RECEIVERS = 500;

/** Any fixed UUID: the namespace of the externalIds we derive. */
const EXTERNAL_ID_NAMESPACE = '6f1c2a7e-2b1d-4c3e-9a5f-0d8b7c6e5a41';

export type RequestContent = { msg: string; receivers: string } | { msg: string; params: string };

/** One request to MTN Congo and the deliveries it carries. */
export type PlannedRequest = { items: OutboundSms[]; content: RequestContent; externalId: string };

type NativeEntry = { item: OutboundSms; line: ParamsLine };

/**
 * How a batch becomes requests: items whose template MTN Congo can fill go together per
 * template (`msg` with :P1..., `params`), the others together per text (`receivers`). A number
 * appears at most once per request, so (MTN id, receiver) names one delivery.
 */
export function planRequests(batch: SubmitBatch): PlannedRequest[] {
  const personalised = new Map<string, NativeEntry[]>();
  const plain = new Map<string, OutboundSms[]>();
  for (const item of batch.items) {
    const native = nativeForm(item);
    if (native) append(personalised, native.msg, { item, line: native.line });
    else append(plain, item.text, item);
  }
  const requests: PlannedRequest[] = [];
  for (const [msg, entries] of personalised) {
    for (const group of withDistinctReceivers(entries, (entry) => entry.item.recipient)) {
      const items = group.map((entry) => entry.item);
      const content = { msg, params: formatParams(group.map((entry) => entry.line)) };
      requests.push({ items, content, externalId: externalIdFor(batch.reference, items) });
    }
  }
  for (const [text, entries] of plain) {
    for (const items of withDistinctReceivers(entries, (item) => item.recipient)) {
      const content = { msg: text, receivers: items.map((item) => toReceiver(item.recipient)).join(',') };
      requests.push({ items, content, externalId: externalIdFor(batch.reference, items) });
    }
  }
  return requests;
}

/**
 * The item as a `params` line, when MTN Congo can render it: its values fit the format (no `;`
 * or line breaks), and filling the translated template gives exactly the text we would send.
 */
function nativeForm(item: OutboundSms): { msg: string; line: ParamsLine } | undefined {
  if (!item.template) return undefined;
  const { msg, names } = toNativeTemplate(item.template.text);
  if (names.length === 0) return undefined;
  const values = names.map((name) => item.template!.variables[name]);
  if (!values.every((value): value is string => value !== undefined && fitsParamsField(value))) return undefined;
  if (fillPlaceholders(msg, values) !== item.text) return undefined;
  return { msg, line: { values, email: '', receiver: toReceiver(item.recipient) } };
}

/**
 * The same deliveries under the same submission reference always give the same externalId, so
 * MTN Congo can tell a retry; any other set of deliveries gives another one.
 */
export function externalIdFor(reference: string | undefined, items: OutboundSms[]): string {
  const ids = items.map((item) => item.deliveryId).sort();
  return uuidv5(`${reference ?? ''}|${ids.join(',')}`, EXTERNAL_ID_NAMESPACE);
}

function withDistinctReceivers<T>(entries: T[], recipientOf: (entry: T) => string): T[][] {
  const groups: Array<{ recipients: Set<string>; entries: T[] }> = [];
  for (const entry of entries) {
    const recipient = recipientOf(entry);
    let group = groups.find((g) => !g.recipients.has(recipient) && g.entries.length < MTN_CONGO_MAX_RECEIVERS);
    if (!group) {
      group = { recipients: new Set(), entries: [] };
      groups.push(group);
    }
    group.recipients.add(recipient);
    group.entries.push(entry);
  }
  return groups.map((group) => group.entries);
}

function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

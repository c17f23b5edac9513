import { nextsmsNumber } from './numbers.ts';
import type { NextsmsStatusObject } from './status-map.ts';

/** One result of the logs (and reports). */
export type NextsmsLogEntry = {
  messageId?: string;
  sentAt?: string;
  doneAt?: string;
  to?: unknown;
  from?: string;
  text?: string;
  smsCount?: number;
  reference?: string;
  status?: Partial<NextsmsStatusObject> | null;
  error?: { id?: number; name?: string; description?: string; permanent?: boolean } | null;
};

/**
 * NextSMS writes dates such as "2020-02-05 12:28:51" and never says in which zone (003, 004):
 * Tanzanian time (UTC+3) is read first, UTC second.
 */
const ZONES = ['+03:00', 'Z'] as const;
export type NextsmsZone = (typeof ZONES)[number];

/** The instant a NextSMS date stands for when written in `zone`. */
export function nextsmsDate(value: string | undefined, zone: NextsmsZone): Date | undefined {
  if (!value || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(value)) return undefined;
  const at = new Date(`${value.replace(' ', 'T')}${zone}`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** A delivery of ours looking for its row: to `recipient`, under `reference`, submitted at `at`. */
export type RowClaim = { key: string; recipient: string; reference: string; at: Date };
/** A row found ours, and the zone its dates were read in (undefined: none was readable). */
export type OwnRow = { entry: NextsmsLogEntry; zone: NextsmsZone | undefined };
/** How far before and after our record of a submission its row may be dated (a slow answer, clocks apart). */
export type RowWindow = { beforeMs: number; afterMs: number };

/**
 * Which rows of the logs, asked for by our reference and numbers, are the deliveries' own. A
 * row carrying another reference is never ours. Where a number has one row for one delivery,
 * the row is ours whatever its date; otherwise dates choose, each row read in either zone: in
 * key order, each delivery takes the row nearest its submission within the window that no
 * delivery took before it, the oldest of equals. So two deliveries to one number in one
 * submission get a row each, in the order the adapter sent them (key order). A row without a
 * readable date counts only when it echoes our reference, after the dated ones.
 */
export function ownRows(claims: RowClaim[], entries: NextsmsLogEntry[], window: RowWindow): Map<string, OwnRow> {
  const own = new Map<string, OwnRow>();
  const groups = new Map<string, RowClaim[]>();
  for (const claim of claims) {
    const group = `${claim.reference}\u0000${nextsmsNumber(claim.recipient)}`;
    groups.set(group, [...(groups.get(group) ?? []), claim]);
  }
  for (const members of groups.values()) {
    const { reference, recipient } = members[0]!;
    const number = nextsmsNumber(recipient);
    // Logs come newest first; oldest first, equals go out in the order they were sent.
    const rows = entries
      .filter((entry) => nextsmsNumber(entry.to) === number && (entry.reference === undefined || entry.reference === reference))
      .reverse();
    const only = rows.length === 1 && members.length === 1;
    const taken = new Set<number>();
    for (const claim of members.sort(byKey)) {
      let best: { row: number; distance: number; zone: NextsmsZone | undefined } | undefined;
      rows.forEach((entry, row) => {
        if (taken.has(row)) return;
        const reading = nearestReading(entry, claim.at, only ? undefined : window);
        const candidate = reading ?? (only || entry.reference === reference ? { distance: Number.MAX_SAFE_INTEGER, zone: undefined } : undefined);
        if (candidate && (!best || candidate.distance < best.distance)) best = { row, ...candidate };
      });
      if (!best) continue;
      taken.add(best.row);
      own.set(claim.key, { entry: rows[best.row]!, zone: best.zone });
    }
  }
  return own;
}

/** The reading of a row's date nearest to `at`, within `window` when given. */
function nearestReading(entry: NextsmsLogEntry, at: Date, window: RowWindow | undefined): { distance: number; zone: NextsmsZone } | undefined {
  let best: { distance: number; zone: NextsmsZone } | undefined;
  for (const zone of ZONES) {
    const sent = nextsmsDate(entry.sentAt, zone);
    if (!sent) continue;
    const offset = sent.getTime() - at.getTime();
    if (window && (offset < -window.beforeMs || offset > window.afterMs)) continue;
    if (!best || Math.abs(offset) < best.distance) best = { distance: Math.abs(offset), zone };
  }
  return best;
}

function byKey(a: RowClaim, b: RowClaim): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

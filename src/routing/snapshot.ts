import { sqlOf, type Db } from '../db/client.ts';
import { isPrefix } from './destinations.ts';
import { addCounts, emptyCounts, measureDestination, type Counts, type Measure } from './measurements.ts';

/** The measurements of the window and the operators' pins, as one gateway last read them. */
export type Snapshot = {
  /** Per destination (country or network prefix), per provider. */
  measures: Map<string, Map<string, Measure>>;
  /** Each measured destination's country. */
  countryOf: Map<string, string>;
  /** The countries measured per network prefix, where there are several: routing tells their networks apart. */
  networks: Map<string, Set<string>>;
  pins: Map<string, string>;
};

export const emptySnapshot = (): Snapshot => ({ measures: new Map(), countryOf: new Map(), networks: new Map(), pins: new Map() });

const WINDOW = {
  name: 'routing-window',
  text: `SELECT provider, destination, country, reports, delivered, segments, conversions, errors, out_of_credit AS "outOfCredit",
      wait_seconds AS "waitSeconds", latency
    FROM routing_counts WHERE bucket >= $1`,
};
const PINS = { name: 'routing-pins', text: `SELECT destination, provider FROM routing_pins` };

/** Reads the buckets from `fromBucket` on, summed, and the pins: two small reads, every few seconds. */
export async function readSnapshot(db: Db, fromBucket: number | undefined, minReports: number): Promise<Snapshot> {
  const sql = sqlOf(db);
  const snapshot = emptySnapshot();
  const pins = await sql.query<{ destination: string; provider: string }>(PINS);
  for (const pin of pins) snapshot.pins.set(pin.destination, pin.provider);
  if (fromBucket === undefined) return snapshot;
  const rows = await sql.query<Counts & { provider: string; destination: string; country: string }>(WINDOW, [fromBucket]);
  const sums = new Map<string, Map<string, Counts>>();
  for (const { provider, destination, country, ...counts } of rows) {
    snapshot.countryOf.set(destination, country);
    let byProvider = sums.get(destination);
    if (!byProvider) sums.set(destination, (byProvider = new Map()));
    let sum = byProvider.get(provider);
    if (!sum) byProvider.set(provider, (sum = emptyCounts()));
    addCounts(sum, counts);
  }
  for (const [destination, byProvider] of sums) {
    snapshot.measures.set(destination, measureDestination(byProvider, minReports));
    if (!isPrefix(destination)) continue;
    const country = snapshot.countryOf.get(destination)!;
    let prefixes = snapshot.networks.get(country);
    if (!prefixes) snapshot.networks.set(country, (prefixes = new Set()));
    prefixes.add(destination);
  }
  for (const [country, prefixes] of snapshot.networks) if (prefixes.size < 2) snapshot.networks.delete(country);
  return snapshot;
}

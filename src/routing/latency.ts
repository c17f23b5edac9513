/**
 * Time from submission to DELIVERED, kept as counts per bin so that buckets of time add up and
 * the window's median and p90 can be read from their sum. Bin i holds [EDGES[i-1], EDGES[i])
 * seconds (bin 0 from 0); the last bin everything from the last edge on. PostgreSQL's
 * width_bucket(x, EDGES) numbers them the same way.
 */
export const LATENCY_EDGES = [0.25, 0.5, 1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600];
export const LATENCY_BINS = LATENCY_EDGES.length + 1;

export const emptyHistogram = (): number[] => new Array<number>(LATENCY_BINS).fill(0);

export function addHistogram(into: number[], from: readonly number[]): void {
  for (let i = 0; i < LATENCY_BINS; i++) into[i]! += from[i] ?? 0;
}

/** The `q` quantile (0.5: median) in seconds, interpolated within its bin; null without any count. */
export function quantileSeconds(histogram: readonly number[], q: number): number | null {
  const total = histogram.reduce((sum, n) => sum + n, 0);
  if (total === 0) return null;
  const rank = q * total;
  let before = 0;
  for (let i = 0; i < LATENCY_BINS; i++) {
    const n = histogram[i] ?? 0;
    if (n > 0 && before + n >= rank) {
      const low = i === 0 ? 0 : LATENCY_EDGES[i - 1]!;
      const high = LATENCY_EDGES[i] ?? low;
      return low + ((rank - before) / n) * (high - low);
    }
    before += n;
  }
  return LATENCY_EDGES.at(-1)!;
}

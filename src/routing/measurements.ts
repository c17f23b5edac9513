import { addHistogram, emptyHistogram, quantileSeconds } from './latency.ts';

/** What was counted for one provider and destination (one bucket of time, or the window's sum). */
export type Counts = {
  /** Final reports of messages the provider took (DELIVERED, FAILED, EXPIRED, REJECTED). */
  reports: number;
  delivered: number;
  /** Segments of the reported messages: what they cost. */
  segments: number;
  /** Deliveries the customer confirmed (reportConversion). */
  conversions: number;
  /** Hand-overs that failed (retried, failed over, refused). */
  errors: number;
  /** Of those, skipped or refused because our account there had no credit. */
  outOfCredit: number;
  /** Seconds the reported messages waited for the provider after acceptance, summed (its pacing). */
  waitSeconds: number;
  latency: number[];
};

export const emptyCounts = (): Counts => ({
  reports: 0,
  delivered: 0,
  segments: 0,
  conversions: 0,
  errors: 0,
  outOfCredit: 0,
  waitSeconds: 0,
  latency: emptyHistogram(),
});

export function addCounts(into: Counts, from: Counts): void {
  into.reports += from.reports;
  into.delivered += from.delivered;
  into.segments += from.segments;
  into.conversions += from.conversions;
  into.errors += from.errors;
  into.outOfCredit += from.outOfCredit;
  into.waitSeconds += from.waitSeconds;
  addHistogram(into.latency, from.latency);
}

/** A provider at a destination as routing judges it, from the window's counts. */
export type Measure = Counts & {
  /** Reports, or conversions where there are more: how much the measure rests on. */
  evidence: number;
  /** DELIVERED among the final reports, as the provider says. */
  reportedRatio: number | null;
  /** The ratio routing believes: the reported one, lowered where customers confirm fewer deliveries than for the best provider. */
  deliveryRatio: number | null;
  medianSeconds: number | null;
  p90Seconds: number | null;
  /** Mean seconds a reported message waited for the provider after acceptance. */
  waitMeanSeconds: number | null;
};

/**
 * The measures of one destination's providers. Conversions count above delivery reports: when
 * customers confirmed at least `minReports` deliveries there, each provider's reported ratio is
 * scaled by how its confirmations per DELIVERED compare with the best-confirmed provider's, so one
 * that reports DELIVERED for messages that never arrive loses the difference. (Customers confirm
 * only some deliveries, at the same rate whichever provider carried them: traffic is split per
 * message, not per customer, so the rates compare.)
 */
export function measureDestination(counts: ReadonlyMap<string, Counts>, minReports: number): Map<string, Measure> {
  let confirmations = 0;
  let bestConfirmed = 0;
  for (const c of counts.values()) {
    confirmations += c.conversions;
    if (c.delivered >= minReports) bestConfirmed = Math.max(bestConfirmed, c.conversions / c.delivered);
  }
  const confirmedEnough = confirmations >= minReports && bestConfirmed > 0;
  const measures = new Map<string, Measure>();
  for (const [provider, c] of counts) {
    const reportedRatio = c.reports > 0 ? c.delivered / c.reports : null;
    let deliveryRatio = reportedRatio;
    if (confirmedEnough && c.delivered > 0 && reportedRatio !== null) {
      deliveryRatio = reportedRatio * Math.min(1, c.conversions / c.delivered / bestConfirmed);
    }
    measures.set(provider, {
      ...c,
      evidence: Math.max(c.reports, c.conversions),
      reportedRatio,
      deliveryRatio,
      medianSeconds: quantileSeconds(c.latency, 0.5),
      p90Seconds: quantileSeconds(c.latency, 0.9),
      waitMeanSeconds: c.reports > 0 ? c.waitSeconds / c.reports : null,
    });
  }
  return measures;
}

const Z = 1.96;

/** The Wilson score interval of a ratio seen over `n` trials, at 95%. */
export function wilsonInterval(ratio: number, n: number): { low: number; high: number } {
  if (n <= 0) return { low: 0, high: 1 };
  const z2 = Z * Z;
  const centre = ratio + z2 / (2 * n);
  const spread = Z * Math.sqrt((ratio * (1 - ratio)) / n + z2 / (4 * n * n));
  const scale = 1 + z2 / n;
  return { low: Math.max(0, (centre - spread) / scale), high: Math.min(1, (centre + spread) / scale) };
}

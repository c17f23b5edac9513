import { describe, expect, it } from 'vitest';
import { decide, type DecisionInput } from '../../src/routing/decision.ts';
import { emptyHistogram, quantileSeconds } from '../../src/routing/latency.ts';
import { emptyCounts, measureDestination, wilsonInterval, type Counts } from '../../src/routing/measurements.ts';

/** Counts of `reports` final reports, `ratio` of them delivered, each `seconds` after submission. */
function counts(reports: number, ratio: number, seconds = 2, extra: Partial<Counts> = {}): Counts {
  const delivered = Math.round(reports * ratio);
  const latency = emptyHistogram();
  latency[seconds < 3 ? 4 : 15] = delivered; // [2, 3) s or [180, 300) s
  return { ...emptyCounts(), reports, delivered, segments: reports, latency, ...extra };
}

function input(measured: Record<string, Counts>, overrides: Partial<DecisionInput> = {}): DecisionInput {
  return {
    destination: 'TZ',
    candidates: Object.keys(measured),
    measures: measureDestination(new Map(Object.entries(measured)), 50),
    pinned: undefined,
    outOfCredit: () => false,
    priceOf: (p) => ({ mifumo: 0.015, nextsms: 0.02 })[p] ?? null,
    minReports: 50,
    latencyBoundSeconds: 60,
    ratioTolerance: 0.1,
    ...overrides,
  };
}

describe('the routing decision', () => {
  it('commits to the cheapest provider per delivered message among those within the bounds', () => {
    const decision = decide(input({ mifumo: counts(500, 0.97), nextsms: counts(500, 0.98) }));
    expect(decision).toMatchObject({ why: 'cheapest', chosen: 'mifumo', route: ['mifumo', 'nextsms'], explorable: ['nextsms'] });
    expect(decision.candidates.map((c) => [c.provider, c.state])).toEqual([['mifumo', 'chosen'], ['nextsms', 'costlier']]);
    expect(decision.candidates[0]!.score).toBeCloseTo(0.015 / 0.97, 6);
  });

  it('leaves a cheaper provider whose ratio cannot be within the tolerance of the best, even when its cost per delivered is lower', () => {
    // 0.015 / 0.8 < 0.02 / 0.99, but 80% delivered is not within 10% of 99%.
    const decision = decide(input({ mifumo: counts(500, 0.8), nextsms: counts(500, 0.99) }));
    expect(decision).toMatchObject({ chosen: 'nextsms', why: 'cheapest' });
    expect(decision.candidates[1]).toMatchObject({ provider: 'mifumo', state: 'low-ratio' });
  });

  it('keeps a cheaper provider whose ratio the reports cannot yet tell from the best (the cost subsidy)', () => {
    const decision = decide(input({ mifumo: counts(60, 0.9), nextsms: counts(60, 0.95) }));
    expect(decision.chosen).toBe('mifumo');
  });

  it('leaves a provider above the latency bound while another is within it', () => {
    const decision = decide(input({ mifumo: counts(500, 1, 200), nextsms: counts(500, 1) }));
    expect(decision.chosen).toBe('nextsms');
    expect(decision.candidates[1]).toMatchObject({ provider: 'mifumo', state: 'slow' });
  });

  it('goes by the configured order until a provider has the minimum of reports, exploring the others', () => {
    const decision = decide(input({ nextsms: counts(49, 1), mifumo: counts(10, 1) }));
    expect(decision).toMatchObject({ why: 'unmeasured', chosen: 'nextsms', explorable: ['mifumo'] });
  });

  it('follows a pin, without exploring, and skips providers out of credit', () => {
    const measured = { mifumo: counts(500, 1), nextsms: counts(500, 1) };
    expect(decide(input(measured, { pinned: 'nextsms' }))).toMatchObject({ why: 'pinned', chosen: 'nextsms', explorable: [] });
    const skipped = decide(input(measured, { outOfCredit: (p) => p === 'mifumo' }));
    expect(skipped).toMatchObject({ chosen: 'nextsms', explorable: [] });
    expect(skipped.candidates[1]).toMatchObject({ provider: 'mifumo', state: 'out-of-credit' });
  });

  it('scores by delivery ratio alone when a price is missing', () => {
    const decision = decide(input({ mifumo: counts(500, 0.97), nextsms: counts(500, 0.99) }, { priceOf: (p) => (p === 'mifumo' ? 0.015 : null) }));
    expect(decision.chosen).toBe('nextsms');
    expect(decision.candidates[0]!.score).toBeCloseTo(1 / 0.99, 6);
  });
});

describe('measurements', () => {
  it('lowers the ratio of a provider whose DELIVERED customers confirm less often than the best-confirmed one', () => {
    const measures = measureDestination(
      new Map([
        ['mifumo', counts(300, 1, 2, { conversions: 90 })],
        ['nextsms', counts(100, 0.95, 2, { conversions: 85 })],
      ]),
      50,
    );
    expect(measures.get('mifumo')!.reportedRatio).toBe(1);
    expect(measures.get('mifumo')!.deliveryRatio).toBeCloseTo(0.3 / (85 / 95), 4);
    expect(measures.get('nextsms')!.deliveryRatio).toBeCloseTo(0.95, 4);
  });

  it('reads the median and p90 from the latency bins, and Wilson bounds from the reports', () => {
    const histogram = emptyHistogram();
    histogram[3] = 50; // [1, 2) s
    histogram[5] = 50; // [3, 5) s
    expect(quantileSeconds(histogram, 0.5)).toBe(2);
    expect(quantileSeconds(histogram, 0.9)).toBeCloseTo(4.6, 6);
    expect(quantileSeconds(emptyHistogram(), 0.5)).toBeNull();
    const { low, high } = wilsonInterval(0.6, 300);
    expect(low).toBeGreaterThan(0.54);
    expect(high).toBeLessThan(0.66);
  });
});

import { wilsonInterval, type Measure } from './measurements.ts';

/** Where a candidate stands in a decision. */
export type CandidateState =
  | 'chosen'
  /** Fewer than ROUTING_MIN_REPORTS final reports (or conversions) in the window. */
  | 'unmeasured'
  /** Its p90 from submission to DELIVERED is above ROUTING_LATENCY_BOUND_SECONDS. */
  | 'slow'
  /** Its delivery ratio cannot be within ROUTING_RATIO_TOLERANCE of the best provider's. */
  | 'low-ratio'
  /** More of its hand-overs failed than it reported on. */
  | 'unhealthy'
  /** It said our account there has no credit left. */
  | 'out-of-credit'
  /** Within every bound, but a delivered message costs more there. */
  | 'costlier'
  /** The destination is pinned to another provider. */
  | 'not-pinned'
  /** Next in the configured order: measurements did not decide. */
  | 'next';

/** Why the chosen provider was chosen. */
export type Why =
  | 'pinned'
  | 'only-candidate'
  | 'unmeasured'
  | 'cheapest'
  | 'none-within-bounds'
  | 'no-credit-anywhere'
  | 'requested'
  | 'test-account'
  | 'static';

export type CandidateView = {
  provider: string;
  /** Expected price of one delivered segment (PROVIDER_PRICES; 1 where prices are missing): lower is better. */
  score: number | null;
  deliveryRatio: number | null;
  medianDeliverySeconds: number | null;
  reports: number;
  state: CandidateState;
};

export type Decision = {
  destination: string;
  why: Why;
  chosen: string;
  /** The chosen provider first, then the others in their configured order: the delivery's route. */
  route: string[];
  candidates: CandidateView[];
  /** The providers exploration may send to instead (never when pinned, never one out of credit). */
  explorable: string[];
};

export type DecisionInput = {
  destination: string;
  /** The providers that can carry the message, in the configured order. */
  candidates: readonly string[];
  measures: ReadonlyMap<string, Measure> | undefined;
  pinned: string | undefined;
  outOfCredit: (provider: string) => boolean;
  /** What one segment costs us with `provider` at this destination, when known. */
  priceOf: (provider: string) => number | null;
  minReports: number;
  latencyBoundSeconds: number;
  ratioTolerance: number;
};

/**
 * Picks the provider for a destination: the lowest expected cost per delivered message among
 * the measured providers that are within the latency bound and whose delivery ratio can be within
 * the tolerance of the best one's, after Sinha et al.'s cost-subsidised explore-then-commit
 * (see the README): measure every provider up to a fixed number of reports, then commit to the
 * cheapest one whose upper confidence bound reaches the subsidised lower bound of the best.
 * Exploration (the caller's) keeps a bounded share of traffic on the others.
 */
export function decide(input: DecisionInput): Decision {
  const { candidates, destination } = input;
  const view = (provider: string, state: CandidateState, score: number | null = null): CandidateView => {
    const m = input.measures?.get(provider);
    return {
      provider,
      score,
      deliveryRatio: m?.deliveryRatio ?? null,
      medianDeliverySeconds: m?.medianSeconds ?? null,
      reports: m?.reports ?? 0,
      state,
    };
  };
  const finish = (why: Why, chosen: string, states: Map<string, CandidateState>, scores: Map<string, number | null>, explorable: string[]): Decision => {
    const route = [chosen, ...candidates.filter((p) => p !== chosen)];
    return {
      destination,
      why,
      chosen,
      route,
      candidates: route.map((p) => view(p, p === chosen ? 'chosen' : (states.get(p) ?? 'next'), scores.get(p) ?? null)),
      explorable,
    };
  };
  const none = new Map<string, never>();

  if (candidates.length === 1) return finish('only-candidate', candidates[0]!, none, none, []);
  if (input.pinned && candidates.includes(input.pinned)) {
    return finish('pinned', input.pinned, new Map(candidates.map((p) => [p, 'not-pinned'])), none, []);
  }
  const states = new Map<string, CandidateState>();
  const available = candidates.filter((p) => {
    if (!input.outOfCredit(p)) return true;
    states.set(p, 'out-of-credit');
    return false;
  });
  if (available.length === 0) return finish('no-credit-anywhere', candidates[0]!, states, none, []);

  const measured = available.filter((p) => {
    const m = input.measures?.get(p);
    const enough = m !== undefined && m.evidence >= input.minReports && m.deliveryRatio !== null;
    if (!enough) states.set(p, 'unmeasured');
    return enough;
  });
  const others = (chosen: string) => available.filter((p) => p !== chosen);
  if (measured.length === 0) return finish('unmeasured', available[0]!, states, none, others(available[0]!));

  const priced = measured.every((p) => input.priceOf(p) !== null);
  const scores = new Map<string, number | null>();
  for (const p of measured) {
    const ratio = input.measures!.get(p)!.deliveryRatio!;
    scores.set(p, ratio > 0 ? (priced ? input.priceOf(p)! : 1) / ratio : null);
  }
  const bounds = new Map(measured.map((p) => {
    const m = input.measures!.get(p)!;
    return [p, wilsonInterval(m.deliveryRatio!, m.reports)];
  }));
  const bestLow = Math.max(...[...bounds.values()].map((b) => b.low));
  const within = measured.filter((p) => {
    const m = input.measures!.get(p)!;
    let state: CandidateState | undefined;
    if (m.errors >= input.minReports && m.errors > m.reports) state = 'unhealthy';
    else if (m.p90Seconds === null || m.p90Seconds > input.latencyBoundSeconds) state = m.delivered === 0 ? 'low-ratio' : 'slow';
    else if (bounds.get(p)!.high < (1 - input.ratioTolerance) * bestLow) state = 'low-ratio';
    if (state) states.set(p, state);
    return state === undefined;
  });
  const cheapest = (among: string[]) =>
    among.reduce((best, p) => ((scores.get(p) ?? Infinity) < (scores.get(best) ?? Infinity) ? p : best));
  if (within.length > 0) {
    const chosen = cheapest(within);
    for (const p of within) if (p !== chosen) states.set(p, 'costlier');
    return finish('cheapest', chosen, states, scores, others(chosen));
  }
  const chosen = cheapest(measured);
  return finish('none-within-bounds', chosen, states, scores, others(chosen));
}

import type { CandidateState, CandidateView, Decision, Why } from './decision.ts';

/**
 * Why a delivery's first provider was chosen, as stored with it (deliveries.routing) and read
 * back as `Delivery.routing`. Stored compact, one row per delivery: `c` holds each candidate in
 * the delivery's route order as [provider, score, deliveryRatio, medianDeliverySeconds, reports,
 * state]; the sentence is made when it is read.
 */
export type StoredRouting = {
  mode: 'adaptive';
  dest: string;
  why: Why;
  explored: boolean;
  c: Array<[string, number | null, number | null, number | null, number, CandidateState]>;
};

/** A decision applied to one delivery: its route, and why. */
export type Routed = { route: string[]; routing: StoredRouting };

/** `Delivery.routing` as the API shows it. */
export type RoutingDecisionView = {
  mode: string;
  reason: string;
  explored: boolean;
  destination: string | null;
  candidates: CandidateView[];
};

const round = (value: number | null, places: number) => (value === null ? null : Math.round(value * 10 ** places) / 10 ** places);

function stored(decision: Decision, route: string[], explored: boolean): StoredRouting {
  const byProvider = new Map(decision.candidates.map((c) => [c.provider, c]));
  return {
    mode: 'adaptive',
    dest: decision.destination,
    why: decision.why,
    explored,
    c: route.map((provider) => {
      const c = byProvider.get(provider)!;
      return [provider, round(c.score, 6), round(c.deliveryRatio, 4), round(c.medianDeliverySeconds, 2), c.reports, c.state];
    }),
  };
}

/** The delivery's route and explanation when the decision's choice carries it. */
export function committed(decision: Decision): Routed {
  return { route: decision.route, routing: stored(decision, decision.route, false) };
}

/** The delivery's route and explanation when it is sent to `provider` to explore. */
export function exploring(decision: Decision, provider: string): Routed {
  const route = [provider, ...decision.route.filter((p) => p !== provider)];
  return { route, routing: stored(decision, route, true) };
}

/** A route decided without measurements (a provider the sender asked for, a test account's sandbox). */
export function without(why: Extract<Why, 'requested' | 'test-account'>, destination: string, route: string[]): Routed {
  return {
    route,
    routing: { mode: 'adaptive', dest: destination, why, explored: false, c: route.map((p, i) => [p, null, null, null, 0, i === 0 ? 'chosen' : 'next']) },
  };
}

const STATE_TEXT: Record<CandidateState, string> = {
  chosen: 'chosen',
  unmeasured: 'fewer reports in the window than the minimum',
  slow: 'p90 from submission to DELIVERED above the latency bound',
  'low-ratio': 'delivery ratio too far below the best',
  unhealthy: 'more failed hand-overs than reports',
  'out-of-credit': 'no credit left there',
  costlier: 'a delivered message costs more there',
  'not-pinned': 'not the pinned provider',
  next: 'next in the configured order',
};

function because(why: Why, chosen: string, destination: string | null): string {
  const at = destination ?? 'this destination';
  switch (why) {
    case 'pinned':
      return `${chosen}: an operator pinned ${at} to it`;
    case 'only-candidate':
      return `${chosen} is the only provider that can carry it`;
    case 'unmeasured':
      return `no provider has the minimum of reports for ${at} in the window yet: ${chosen}, the first of the configured route, while exploration measures the others`;
    case 'cheapest':
      return `${chosen} has the lowest expected cost per delivered message among the providers within the latency bound and the delivery-ratio tolerance`;
    case 'none-within-bounds':
      return `no measured provider is within the latency bound and the delivery-ratio tolerance: ${chosen} has the lowest expected cost per delivered message of them`;
    case 'no-credit-anywhere':
      return `every provider that can carry it said our account there has no credit: ${chosen}, the first of the configured route, is tried`;
    case 'requested':
      return `the sender asked for ${chosen}`;
    case 'test-account':
      return "a test account's messages always go to the sandbox";
    case 'static':
      return `ROUTING_MODE=static: ${chosen} is the first provider of the configured route that can carry it`;
  }
}

/** What `Delivery.routing` shows for what was stored (null: the delivery was routed statically, by `route`). */
export function explain(routing: StoredRouting | null, route: readonly string[]): RoutingDecisionView {
  const record: StoredRouting | { mode: 'static'; dest: null; why: Why; explored: false; c: StoredRouting['c'] } = routing ?? {
    mode: 'static',
    dest: null,
    why: 'static',
    explored: false,
    c: route.map((p, i) => [p, null, null, null, 0, i === 0 ? 'chosen' : 'next']),
  };
  const candidates = record.c.map(([provider, score, deliveryRatio, medianDeliverySeconds, reports, state]) => ({
    provider,
    score,
    deliveryRatio,
    medianDeliverySeconds,
    reports,
    state,
  }));
  const chosen = candidates.find((c) => c.state === 'chosen')?.provider ?? candidates[0]?.provider ?? 'none';
  let reason = because(record.why, chosen, record.dest);
  const others = candidates.filter((c) => c.state !== 'chosen' && c.state !== 'next');
  if (others.length > 0) reason += `; ${others.map((c) => `${c.provider}: ${STATE_TEXT[c.state]}`).join('; ')}`;
  if (record.explored) {
    reason = `explored ${candidates[0]!.provider}: a bounded share of ${record.dest}'s traffic keeps every provider measured; otherwise ${reason}`;
  }
  return { mode: record.mode, reason, explored: record.explored, destination: record.dest, candidates };
}

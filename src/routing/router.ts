import { EventEmitter } from 'node:events';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { Decimal } from '../messages/money.ts';
import { whyNotCarried } from '../providers/capabilities.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import { countSinceLast } from './counting.ts';
import { decide, type CandidateState, type Decision } from './decision.ts';
import { Destinations, isPrefix } from './destinations.ts';
import { committed, explain, exploring, without, type Routed } from './explanation.ts';
import { seededRandom, type Clock, type Random } from '../shared/random.ts';
import type { RoutingSettings } from './settings.ts';
import { emptySnapshot, readSnapshot, type Snapshot } from './snapshot.ts';

/** The window is this many buckets: it moves a fifteenth of its length at a time. */
const BUCKETS_PER_WINDOW = 15;

export type RouterDeps = {
  db: Db;
  providers: ProviderRegistry;
  logger: Logger;
  /** The configured routes (ROUTES): the providers of each country, in order. */
  routes: Record<string, string[]>;
};

/** One provider at one destination, as `routes` lists it. */
export type RouteProviderView = {
  provider: string;
  deliveryRatio: number | null;
  reportedDeliveryRatio: number | null;
  medianDeliverySeconds: number | null;
  p90DeliverySeconds: number | null;
  pricePerDelivered: string | null;
  /** What the current decision gives it of new traffic. */
  share: number;
  reports: number;
  conversions: number;
  errors: number;
  outOfCredit: boolean;
  waitSeconds: number | null;
  state: CandidateState;
};

export type RouteView = {
  destination: string;
  pinned: string | null;
  /** Why the chosen provider is chosen now, as a delivery would say it. */
  reason: string | null;
  providers: RouteProviderView[];
};

type Decided = {
  decision: Decision;
  committed: Routed;
  explored: Map<string, Routed>;
  /** Deliveries routed by it, and how many of them explored: the second never passes ROUTING_EXPLORATION of the first. */
  routedCount: number;
  exploredCount: number;
};

/**
 * Routing that learns: counts what happens to every provider's messages per destination (one
 * gateway at a time, from the event log), reads the window back every few seconds (every
 * gateway), and decides, per destination, which of the providers that can carry a message gets
 * it. Acceptance asks it for each delivery's route (messages/send-plan.ts); the dispatcher
 * follows that route as ever.
 */
export class Router extends EventEmitter<{ refreshed: [] }> {
  readonly destinations: Destinations;
  private snapshot: Snapshot = emptySnapshot();
  /** Decisions of the current snapshot, per destination and candidate list. */
  private decisions = new Map<string, Decided>();
  private readonly routeKeys = new WeakMap<readonly string[], string>();
  private readonly random: Random;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private ticking: Promise<void> = Promise.resolve();
  /** The provider each destination went to at the last reading, to log when that changes. */
  private lastChosen = new Map<string, string>();

  constructor(
    private readonly deps: RouterDeps,
    readonly settings: RoutingSettings,
    private readonly clock: Clock = Date.now,
    random?: Random,
  ) {
    super();
    this.destinations = new Destinations(settings.prefixDigits);
    this.random = random ?? (settings.seed === undefined ? Math.random : seededRandom(settings.seed));
  }

  get adaptive(): boolean {
    return this.settings.mode === 'adaptive';
  }

  /** Counts and reads every ROUTING_REFRESH_MS; static routing that measures nothing runs nothing. */
  start(): void {
    if (this.running || (!this.adaptive && !this.settings.measure)) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
    await this.ticking;
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.tick();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.settings.refreshMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Counts what happened since the last count (if this gateway measures), then reads the window. One at a time. */
  tick(): Promise<void> {
    this.ticking = this.ticking.then(async () => {
      try {
        if (this.settings.measure) await this.count();
        await this.refresh();
      } catch (error) {
        this.deps.logger.warn({ err: error }, 'routing measurements could not be counted or read; the last ones stay in use');
      }
    });
    return this.ticking;
  }

  private get bucketMs(): number {
    return (this.settings.windowSeconds * 1000) / BUCKETS_PER_WINDOW;
  }

  /** The first bucket still in the window. */
  private windowStart(): number {
    const bucket = Math.floor(this.clock() / this.bucketMs) * this.bucketMs;
    return bucket - (BUCKETS_PER_WINDOW - 1) * this.bucketMs;
  }

  private async count(): Promise<void> {
    const now = this.clock();
    await countSinceLast(this.deps.db, {
      destinations: this.destinations,
      bucket: Math.floor(now / this.bucketMs) * this.bucketMs,
      forgetBefore: this.windowStart(),
      windowMs: this.settings.windowSeconds * 1000,
      delayMs: this.settings.countDelayMs,
    });
  }

  /** Reads the window and the pins; the decisions made on the last reading are dropped. */
  async refresh(): Promise<void> {
    this.snapshot = await readSnapshot(this.deps.db, this.settings.measure ? this.windowStart() : undefined, this.settings.minReports);
    this.decisions = new Map();
    if (this.adaptive) this.logChanges();
    this.emit('refreshed');
  }

  /** Every change of a destination's provider goes to the log, with why. */
  private logChanges(): void {
    const chosen = new Map<string, string>();
    for (const route of this.routes()) {
      const now = route.providers.find((p) => p.state === 'chosen')?.provider;
      if (!now) continue;
      chosen.set(route.destination, now);
      const before = this.lastChosen.get(route.destination);
      if (before !== undefined && before !== now) {
        this.deps.logger.info({ destination: route.destination, from: before, to: now, reason: route.reason }, 'routing moved a destination to another provider');
      }
    }
    this.lastChosen = chosen;
  }

  /**
   * The route of one delivery to `recipient` (E.164, in `country`): `carried`, the providers
   * that can carry it in their configured order, with the one the destination's decision picks
   * first, or, for at most ROUTING_EXPLORATION of them, another one (`explore`; a quote never
   * explores). Each delivery explores with that probability, as long as the explored ones stay
   * within that share of those routed by the decision, so the bound holds however the draws
   * fall. A few map lookups and one draw: the decision is made once per destination and reading
   * of the measurements.
   */
  route(country: string, recipient: string, carried: readonly string[], explore: boolean): Routed {
    let destination = country;
    if (this.snapshot.networks.has(country)) {
      const prefix = this.destinations.prefixOf(country, recipient);
      if (prefix && this.hasEvidence(prefix)) destination = prefix;
    }
    const decided = this.decided(destination, country, carried);
    const { explorable } = decided.decision;
    const { exploration } = this.settings;
    if (!explore || explorable.length === 0 || exploration === 0) return decided.committed;
    decided.routedCount += 1;
    const draw = this.random();
    if (draw >= exploration || decided.exploredCount + 1 > exploration * decided.routedCount) return decided.committed;
    decided.exploredCount += 1;
    const provider = explorable[Math.min(explorable.length - 1, Math.floor((draw / exploration) * explorable.length))]!;
    let routed = decided.explored.get(provider);
    if (!routed) decided.explored.set(provider, (routed = exploring(decided.decision, provider)));
    return routed;
  }

  /** A route no measurement decides: a provider the sender named, or a test account's sandbox. */
  fixed(why: 'requested' | 'test-account', country: string, route: string[]): Routed {
    return without(why, country, route);
  }

  private hasEvidence(destination: string): boolean {
    const measures = this.snapshot.measures.get(destination);
    if (!measures) return false;
    for (const m of measures.values()) if (m.evidence >= this.settings.minReports) return true;
    return false;
  }

  private decided(destination: string, country: string, carried: readonly string[]): Decided {
    let routeKey = this.routeKeys.get(carried);
    if (routeKey === undefined) this.routeKeys.set(carried, (routeKey = carried.join(',')));
    const key = `${destination}\u0000${routeKey}`;
    let decided = this.decisions.get(key);
    if (!decided) {
      const decision = this.decide(destination, country, carried);
      decided = { decision, committed: committed(decision), explored: new Map(), routedCount: 0, exploredCount: 0 };
      this.decisions.set(key, decided);
    }
    return decided;
  }

  private decide(destination: string, country: string, candidates: readonly string[]): Decision {
    return decide({
      destination,
      candidates,
      measures: this.snapshot.measures.get(destination),
      pinned: this.snapshot.pins.get(destination) ?? (isPrefix(destination) ? this.snapshot.pins.get(country) : undefined),
      outOfCredit: (provider) => this.deps.providers.isOutOfCredit(provider),
      priceOf: (provider) => {
        const price = this.priceOf(provider, country);
        return price === null ? null : price.toNumber();
      },
      minReports: this.settings.minReports,
      latencyBoundSeconds: this.settings.latencyBoundSeconds,
      ratioTolerance: this.settings.ratioTolerance,
    });
  }

  /** What one segment costs us with `provider` in `country` (PROVIDER_PRICES), when configured. */
  priceOf(provider: string, country: string): Decimal | null {
    const prices = this.settings.providerPrices[provider];
    const price = prices?.[country] ?? prices?.default;
    return price === undefined ? null : new Decimal(price);
  }

  /** Every destination routing knows (configured or measured), its providers, their measures and current share. */
  routes(): RouteView[] {
    const countries = new Set([...Object.keys(this.deps.routes).filter((c) => c !== 'default')]);
    for (const [destination, country] of this.snapshot.countryOf) if (!isPrefix(destination)) countries.add(country);
    const destinations: Array<[string, string]> = [];
    for (const country of [...countries].sort()) {
      destinations.push([country, country]);
      for (const prefix of [...(this.snapshot.networks.get(country) ?? [])].sort()) destinations.push([prefix, country]);
    }
    return destinations.map(([destination, country]) => this.routeOf(destination, country));
  }

  private routeOf(destination: string, country: string): RouteView {
    const measures = this.snapshot.measures.get(destination);
    const candidates = this.carriersOf(country);
    for (const provider of measures?.keys() ?? []) if (!candidates.includes(provider)) candidates.push(provider);
    const pinned = this.snapshot.pins.get(destination) ?? null;
    if (candidates.length === 0) return { destination, pinned, reason: null, providers: [] };
    const decision = this.adaptive ? this.decide(destination, country, candidates) : staticDecision(destination, candidates, this.deps.providers);
    const exploring = this.adaptive ? decision.explorable : [];
    const exploration = exploring.length > 0 ? this.settings.exploration : 0;
    const providers = candidates.map((provider): RouteProviderView => {
      const m = measures?.get(provider);
      const price = this.priceOf(provider, country);
      const share = provider === decision.chosen ? 1 - exploration : exploring.includes(provider) ? exploration / exploring.length : 0;
      return {
        provider,
        deliveryRatio: m?.deliveryRatio ?? null,
        reportedDeliveryRatio: m?.reportedRatio ?? null,
        medianDeliverySeconds: m?.medianSeconds ?? null,
        p90DeliverySeconds: m?.p90Seconds ?? null,
        pricePerDelivered: price && m && m.delivered > 0 ? price.times(m.segments).dividedBy(m.delivered).toFixed(4) : null,
        share,
        reports: m?.reports ?? 0,
        conversions: m?.conversions ?? 0,
        errors: m?.errors ?? 0,
        outOfCredit: this.deps.providers.isOutOfCredit(provider),
        waitSeconds: m?.waitMeanSeconds ?? null,
        state: decision.candidates.find((c) => c.provider === provider)?.state ?? 'next',
      };
    });
    const { routing } = committed(decision);
    return { destination, pinned, reason: explain(this.adaptive ? routing : null, decision.route).reason, providers };
  }

  /** The enabled providers of `country`'s configured route that deliver there, in order. */
  private carriersOf(country: string): string[] {
    const configured = this.deps.routes[country] ?? this.deps.routes.default ?? [];
    const cargo = { country, encoding: 'GSM7' as const, segments: 1, characters: 1 };
    return configured.filter((name) => {
      const provider = this.deps.providers.get(name);
      return provider !== undefined && whyNotCarried(provider.capabilities.carries, cargo) === undefined;
    });
  }
}

/** Today's routing as a decision: the first provider of the route with credit left. */
function staticDecision(destination: string, candidates: string[], providers: ProviderRegistry): Decision {
  const chosen = candidates.find((p) => !providers.isOutOfCredit(p)) ?? candidates[0]!;
  const route = [chosen, ...candidates.filter((p) => p !== chosen)];
  return {
    destination,
    why: 'static',
    chosen,
    route,
    explorable: [],
    candidates: route.map((provider) => ({
      provider,
      score: null,
      deliveryRatio: null,
      medianDeliverySeconds: null,
      reports: 0,
      state: provider === chosen ? 'chosen' : providers.isOutOfCredit(provider) ? 'out-of-credit' : 'next',
    })),
  };
}

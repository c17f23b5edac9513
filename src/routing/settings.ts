export const ROUTING_MODES = ['static', 'adaptive'] as const;
export type RoutingMode = (typeof ROUTING_MODES)[number];

/** How routing decides and measures (ROUTING_* and PROVIDER_PRICES; see the README). */
export type RoutingSettings = {
  mode: RoutingMode;
  /** Whether this gateway counts what happens to the messages (always under adaptive; ROUTING_MEASURE=on to watch under static). */
  measure: boolean;
  /** How far back the measurements reach. */
  windowSeconds: number;
  /** Final reports (or conversions) a provider needs for a destination before its measurements move traffic. */
  minReports: number;
  /** The largest share of a destination's traffic sent to providers other than the chosen one, to keep measuring them. */
  exploration: number;
  /** A provider whose p90 from submission to DELIVERED is above this is not chosen while another is within it. */
  latencyBoundSeconds: number;
  /**
   * The cost subsidy of Sinha et al.: a provider may be chosen for its price while its delivery
   * ratio can still be within this share of the best provider's.
   */
  ratioTolerance: number;
  /** How often measurements are counted and read. */
  refreshMs: number;
  /** Failed hand-overs and conversions are counted once they are this old (their ids and times are taken before commit). */
  countDelayMs: number;
  /** Seeds the exploration draws (tests, demonstrations); unset: Math.random. */
  seed: number | undefined;
  /** National digits that name a network: +255 71... is "+25571" with 2. */
  prefixDigits: number;
  /** What one segment costs us per provider, by destination country with a default, in DEFAULT_CURRENCY. */
  providerPrices: Record<string, Record<string, string>>;
};

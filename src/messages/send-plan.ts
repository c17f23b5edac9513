import { createHash } from 'node:crypto';
import type { Caller } from '../accounts/caller.ts';
import type { Config } from '../config.ts';
import { GatewayError } from '../shared/errors.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { Routed, StoredRouting } from '../routing/explanation.ts';
import type { Router } from '../routing/router.ts';
import { analyseText, MAX_SEGMENTS, type SmsEncoding } from './encoding.ts';
import { whyNotCarried } from '../providers/capabilities.ts';
import type { Cargo } from '../providers/types.ts';
import { Decimal } from './money.ts';
import { accountSegmentPrice } from './pricing.ts';
import { normaliseRecipients, type RejectedRecipient } from './recipients.ts';
import { renderTemplate } from './template.ts';

export type SendSmsInput = {
  message: string;
  recipients?: readonly string[] | null;
  personalized?: ReadonlyArray<{ to: string; variables: Record<string, unknown> }> | null;
  senderId?: string | null;
  scheduleTime?: Date | null;
  reference?: string | null;
  provider?: string | null;
};

export type PlannedDelivery = {
  recipient: string;
  country: string;
  /** Set when the text differs per recipient (personalised). */
  body: string | null;
  /** The recipient's placeholder values, for providers that personalise natively. */
  variables: Record<string, string> | null;
  segments: number;
  price: Decimal;
  route: string[];
  /** Why the route's first provider was chosen, under adaptive routing (see routing/). */
  routing?: StoredRouting;
};

export type SendPlan = {
  text: string;
  senderId: string;
  encoding: SmsEncoding;
  segments: number;
  unicodeCharacters: string[];
  deliveries: PlannedDelivery[];
  rejected: RejectedRecipient[];
  cost: Decimal;
  currency: string;
  scheduledAt: Date | null;
  reference: string | null;
  requestedProvider: string | null;
  /** The provider that would carry it (the first delivery's), null when none can. */
  provider: string | null;
  requestHash: string;
};

/**
 * Everything sendSms decides before touching the database: who receives what, in which
 * encoding, through which providers, at what price. smsQuote shows this without sending.
 */
export function planSend(
  input: SendSmsInput,
  caller: Caller,
  config: Pick<Config, 'defaultCountry' | 'defaultSenderId' | 'priceTable' | 'routes'>,
  providers: ProviderRegistry,
  options: { quote?: boolean; router?: Router } = {},
): SendPlan {
  const senderId = input.senderId ?? config.defaultSenderId;
  const requestedProvider = input.provider ?? null;
  if (requestedProvider !== null && !providers.isEnabled(requestedProvider)) {
    throw new GatewayError('PROVIDER_NOT_FOUND', `No enabled provider is called "${requestedProvider}".`, {
      enabledProviders: providers.enabledNames(),
    });
  }

  assertScheduleWindow(input.scheduleTime);

  const targets = [
    ...(input.recipients ?? []).map((to) => ({ to, variables: null as Record<string, unknown> | null })),
    ...(input.personalized ?? []).map((p) => ({ to: p.to, variables: p.variables })),
  ];
  const { accepted, rejected } = normaliseRecipients(targets, config.defaultCountry);

  const deliveries: PlannedDelivery[] = [];
  const unicode = new Set<string>();
  let encoding: SmsEncoding = 'GSM7';
  let segments = 0;
  // The same text, route and price serve every recipient of a country: worked out once each.
  let sharedText: ReturnType<typeof assertFits> | undefined;
  // Unpersonalised, the text must fit even when no recipient is valid.
  if (!input.personalized?.length) sharedText = assertFits(input.message);
  const byCountry = new Map<
    string,
    { route: string[]; segmentPrice: Decimal; prices: Map<number, Decimal>; carried: Map<string, CarriedRoute>; sharedCarried?: CarriedRoute; fixed?: Routed }
  >();
  // Adaptive routing puts the provider measured best for each destination first (and a few on
  // another, to keep measuring them); a quote shows the choice and explores nothing.
  const router = options.router?.adaptive ? options.router : undefined;
  const fixedBy = caller.isTest ? 'test-account' : requestedProvider ? 'requested' : undefined;
  const countryOf = (country: string) => {
    let known = byCountry.get(country);
    if (!known) {
      const route = routeFor(country, caller, requestedProvider, config.routes, providers);
      const price = caller.isTest ? new Decimal(0) : accountSegmentPrice(config.priceTable, caller, country);
      known = { route, segmentPrice: price, prices: new Map(), carried: new Map() };
      byCountry.set(country, known);
    }
    return known;
  };
  // Which providers of the route can carry a text depends only on its shape: worked out once per shape and country.
  const carriedBy = (country: ReturnType<typeof countryOf>, cargo: Cargo): CarriedRoute => {
    const key = `${cargo.encoding}\u0000${cargo.segments}\u0000${cargo.characters}`;
    let carried = country.carried.get(key);
    if (!carried) {
      carried = carryingRoute(country.route, cargo, providers);
      country.carried.set(key, carried);
    }
    return carried;
  };
  const segmentsBought = new Map<string, number>();
  for (const target of accepted) {
    let body: string | null = null;
    let variables: Record<string, string> | null = null;
    if (target.variables) {
      variables = Object.fromEntries(Object.entries(target.variables).map(([k, v]) => [k, String(v)]));
      const rendered = renderTemplate(input.message, target.variables);
      if (!rendered.ok) {
        rejected.push({ input: target.input, code: 'MISSING_VARIABLE', reason: `no value for {{${rendered.missing}}}` });
        continue;
      }
      body = rendered.text === input.message ? null : rendered.text;
    }
    const analysis = body === null ? (sharedText ??= assertFits(input.message)) : assertFits(body, target.e164);
    const country = countryOf(target.country);
    if (country.route.length === 0) {
      rejected.push({ input: target.input, code: 'NO_ROUTE', reason: `no enabled provider delivers to ${target.country}` });
      continue;
    }
    const cargo = () => ({ country: target.country, encoding: analysis.encoding, segments: analysis.segments, characters: (body ?? input.message).length });
    const carried = body === null ? (country.sharedCarried ??= carriedBy(country, cargo())) : carriedBy(country, cargo());
    if (carried.route.length === 0) {
      rejected.push({ input: target.input, code: 'NO_ROUTE', reason: carried.why });
      continue;
    }
    for (const ch of analysis.unicodeCharacters) unicode.add(ch);
    if (analysis.encoding === 'UCS2') encoding = 'UCS2';
    segments = Math.max(segments, analysis.segments);
    let price = country.prices.get(analysis.segments);
    if (!price) {
      price = country.segmentPrice.times(analysis.segments);
      country.prices.set(analysis.segments, price);
    }
    segmentsBought.set(target.country, (segmentsBought.get(target.country) ?? 0) + analysis.segments);
    let { route } = carried;
    let routing: StoredRouting | undefined;
    if (router) {
      const routed = fixedBy
        ? (country.fixed ??= router.fixed(fixedBy, target.country, carried.route))
        : router.route(target.country, target.e164, carried.route, !options.quote);
      ({ route, routing } = routed);
    }
    deliveries.push({ recipient: target.e164, country: target.country, body, variables, segments: analysis.segments, price, route, routing });
  }
  let cost = new Decimal(0);
  for (const [country, bought] of segmentsBought) cost = cost.plus(byCountry.get(country)!.segmentPrice.times(bought));

  const unroutable = rejected.find((r) => r.code === 'NO_ROUTE');
  if (deliveries.length === 0 && !(unroutable && options.quote)) {
    if (unroutable) throw new GatewayError('NO_ROUTE', `No enabled provider can carry this message: ${unroutable.reason}.`, { rejectedRecipients: rejected });
    throw new GatewayError('NO_VALID_RECIPIENTS', 'None of the recipients can be sent to.', { rejectedRecipients: rejected });
  }
  if (segments === 0) segments = analyseText(input.message).segments;
  const firstRoute = deliveries[0]?.route ?? [];

  return {
    text: input.message,
    senderId,
    encoding,
    segments,
    unicodeCharacters: [...unicode],
    deliveries,
    rejected,
    cost,
    currency: caller.currency,
    scheduledAt: input.scheduleTime ?? null,
    reference: input.reference ?? null,
    requestedProvider,
    provider: firstRoute.find((name) => !providers.isOutOfCredit(name)) ?? firstRoute[0] ?? null,
    requestHash: hashRequest(input, senderId),
  };
}

const MAX_SCHEDULE_AHEAD_MS = 35 * 24 * 3600_000;

function assertScheduleWindow(at: Date | null | undefined) {
  if (!at) return;
  if (at.getTime() <= Date.now()) throw new GatewayError('INVALID_SCHEDULE_TIME', 'scheduleTime: the time is in the past');
  if (at.getTime() > Date.now() + MAX_SCHEDULE_AHEAD_MS) {
    throw new GatewayError('INVALID_SCHEDULE_TIME', 'scheduleTime: at most 35 days ahead');
  }
}

function assertFits(text: string, recipient?: string) {
  const analysis = analyseText(text);
  if (analysis.segments > MAX_SEGMENTS) {
    throw new GatewayError(
      'MESSAGE_TOO_LONG',
      `The message needs ${analysis.segments} ${analysis.encoding} segments${recipient ? ` for ${recipient}` : ''}; at most ${MAX_SEGMENTS} are allowed.`,
      { segments: analysis.segments, maxSegments: MAX_SEGMENTS, encoding: analysis.encoding },
    );
  }
  return analysis;
}

type CarriedRoute = { route: string[]; why: string };

/** The providers of `route` that can carry the message, in order; with none, why each cannot. */
function carryingRoute(route: string[], cargo: Cargo, providers: ProviderRegistry): CarriedRoute {
  const refusals: string[] = [];
  const carrying = route.filter((name) => {
    const capabilities = providers.get(name)?.capabilities;
    const why = capabilities ? whyNotCarried(capabilities.carries, cargo) : 'is not enabled';
    if (why) refusals.push(`${name} ${why}`);
    return why === undefined;
  });
  return { route: carrying, why: refusals.join('; ') };
}

function routeFor(
  country: string,
  caller: Caller,
  requested: string | null,
  routes: Record<string, string[]>,
  providers: ProviderRegistry,
): string[] {
  if (caller.isTest) return ['sandbox'];
  if (requested) return [requested];
  const configured = (routes[country] ?? routes.default ?? []).filter((name) => providers.isEnabled(name));
  if (configured.length > 0) return configured;
  // A gateway with no upstream configured at all (a demo, a laptop) sends to the sandbox, and
  // says so at start; one with upstreams never sends real traffic there unless a route says so.
  return providers.hasUpstream() ? [] : ['sandbox'];
}

/** Identifies "the same request" for idempotent retries with a reference. */
export function hashRequest(input: SendSmsInput, senderId: string): string {
  const canonical = JSON.stringify([
    input.message,
    input.recipients ?? [],
    (input.personalized ?? []).map((p) => [p.to, sortKeys(p.variables)]),
    senderId,
    input.scheduleTime?.toISOString() ?? null,
    input.provider ?? null,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

function sortKeys(value: Record<string, unknown>): Array<[string, unknown]> {
  return Object.keys(value)
    .sort()
    .map((key) => [key, value[key]]);
}

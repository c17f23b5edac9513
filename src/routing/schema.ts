import DataLoader from 'dataloader';
import { sqlOf } from '../db/client.ts';
import { Delivery } from '../deliveries/schema.ts';
import type { DeliveryWithRelations } from '../deliveries/records.ts';
import { builder } from '../graphql/builder.ts';
import { limit, type GraphQLContext } from '../graphql/context.ts';
import { rowIdOf } from '../graphql/ids.ts';
import { GatewayError } from '../shared/errors.ts';
import { recordConversion } from './conversions.ts';
import type { CandidateView } from './decision.ts';
import { explain, type RoutingDecisionView, type StoredRouting } from './explanation.ts';
import type { RouteProviderView, RouteView } from './router.ts';

const RouteCandidate = builder.objectRef<CandidateView>('RouteCandidate').implement({
  description: 'A provider that could carry a delivery, as routing saw it when it chose.',
  fields: (t) => ({
    provider: t.exposeString('provider'),
    score: t.float({
      nullable: true,
      description: 'Expected price of one delivered segment (PROVIDER_PRICES, or 1 each where prices are missing); lower is better. Null when not measured.',
      resolve: (c) => c.score,
    }),
    deliveryRatio: t.float({ nullable: true, resolve: (c) => c.deliveryRatio }),
    medianDeliverySeconds: t.float({ nullable: true, resolve: (c) => c.medianDeliverySeconds }),
    reports: t.exposeInt('reports', { description: 'Final reports in the window when it chose.' }),
    state: t.exposeString('state', {
      description: 'chosen, unmeasured, slow, low-ratio, unhealthy, out-of-credit, costlier, not-pinned or next (configured order).',
    }),
  }),
});

const RoutingDecision = builder.objectRef<RoutingDecisionView>('RoutingDecision').implement({
  description: "Why a delivery's first provider was chosen.",
  fields: (t) => ({
    mode: t.exposeString('mode', { description: 'static or adaptive (ROUTING_MODE when it was accepted).' }),
    reason: t.exposeString('reason'),
    explored: t.exposeBoolean('explored', { description: 'Sent to another provider than the chosen one, to keep measuring it.' }),
    destination: t.string({ nullable: true, description: 'The country or network prefix decided for.', resolve: (d) => d.destination }),
    candidates: t.field({ type: [RouteCandidate], description: 'In the order of its route.', resolve: (d) => d.candidates }),
  }),
});

const RouteProviderStats = builder.objectRef<RouteProviderView>('RouteProviderStats').implement({
  fields: (t) => ({
    provider: t.exposeString('provider'),
    deliveryRatio: t.float({
      nullable: true,
      description: 'DELIVERED among final reports in the window, lowered where customers confirm fewer deliveries (reportConversion) than for the best provider.',
      resolve: (p) => p.deliveryRatio,
    }),
    reportedDeliveryRatio: t.float({ nullable: true, description: "As the provider's reports say.", resolve: (p) => p.reportedDeliveryRatio }),
    medianDeliverySeconds: t.float({ nullable: true, resolve: (p) => p.medianDeliverySeconds }),
    p90DeliverySeconds: t.float({ nullable: true, resolve: (p) => p.p90DeliverySeconds }),
    pricePerDelivered: t.string({
      nullable: true,
      description: 'What the reported messages cost us (PROVIDER_PRICES) per delivered one; decimal.',
      resolve: (p) => p.pricePerDelivered,
    }),
    share: t.float({ description: 'The share of new traffic the current decision gives it.', resolve: (p) => p.share }),
    reports: t.exposeInt('reports'),
    conversions: t.exposeInt('conversions'),
    errors: t.exposeInt('errors', { description: 'Failed hand-overs in the window.' }),
    outOfCredit: t.exposeBoolean('outOfCredit'),
    waitSeconds: t.float({
      nullable: true,
      description: 'Mean seconds a reported message waited for it after acceptance (its pacing).',
      resolve: (p) => p.waitSeconds,
    }),
    state: t.exposeString('state'),
  }),
});

const Route = builder.objectRef<RouteView>('Route').implement({
  fields: (t) => ({
    destination: t.exposeString('destination', { description: 'A country code (TZ) or a network prefix (+25571).' }),
    pinned: t.string({ nullable: true, description: 'The provider an operator pinned it to.', resolve: (r) => r.pinned }),
    reason: t.string({ nullable: true, description: 'Why the chosen provider is chosen now.', resolve: (r) => r.reason }),
    providers: t.field({ type: [RouteProviderStats], resolve: (r) => r.providers }),
  }),
});

builder.queryField('routes', (t) =>
  t.field({
    type: [Route],
    authScopes: { admin: true },
    description: 'Per destination: its providers, their measurements over ROUTING_WINDOW_SECONDS and their share of new traffic.',
    resolve: async (_root, _args, ctx) => {
      await limit(ctx, 'admin');
      return ctx.services.router.routes();
    },
  }),
);

builder.mutationField('reportConversion', (t) =>
  t.prismaField({
    type: 'Delivery',
    authScopes: { send: true },
    description: 'The delivery really arrived (an OTP was used): counted above delivery reports in the routing measurements. Idempotent.',
    args: { deliveryId: t.arg.id({ required: true }) },
    resolve: async (query, _root, args, ctx) => {
      await limit(ctx, 'send');
      const id = rowIdOf(args.deliveryId, 'Delivery');
      if (!id) throw new GatewayError('DELIVERY_NOT_FOUND', 'No delivery has this id.');
      await recordConversion(ctx.services.db, ctx.caller.accountId, id);
      return ctx.services.db.delivery.findUniqueOrThrow({ ...query, where: { id } });
    },
  }),
);

type RoutingRow = { id: string; route: string[]; routing: StoredRouting | null; convertedAt: Date | null };

const routingLoaders = new WeakMap<GraphQLContext, DataLoader<string, RoutingRow | undefined>>();
/** The routing columns of a page of deliveries in one query (the dispatcher's reads never carry them). */
function routingOf(ctx: GraphQLContext, deliveryId: string): Promise<RoutingRow | undefined> {
  let loader = routingLoaders.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (ids) => {
      const rows = await sqlOf(ctx.services.db).query<RoutingRow>(
        {
          name: 'routing-of-deliveries',
          text: `SELECT d.id, d.route, d.routing, c.converted_at AS "convertedAt" FROM deliveries d
            LEFT JOIN delivery_conversions c ON c.delivery_id = d.id
            WHERE d.id = ANY($1::uuid[]) AND d.account_id = $2`,
        },
        [[...ids], ctx.caller.accountId],
      );
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id));
    });
    routingLoaders.set(ctx, loader);
  }
  return loader.load(deliveryId);
}

/** A delivery just accepted carries its routing in memory; one read back from the database does not. */
type WithRouting = DeliveryWithRelations & { routing?: StoredRouting | null };

builder.objectField(Delivery, 'routing', (t) =>
  t.field({
    type: RoutingDecision,
    nullable: true,
    description: 'Why its first provider was chosen: mode, the candidates with their scores, explored or not.',
    resolve: async (d: WithRouting, _args, ctx) => {
      if ('routing' in d) return explain(d.routing ?? null, d.route);
      // Updates from other gateways carry neither the routing nor the route.
      const row = await routingOf(ctx, d.id);
      return explain(row?.routing ?? null, row?.route ?? d.route ?? []);
    },
  }),
);

builder.objectField(Delivery, 'convertedAt', (t) =>
  t.field({
    type: 'DateTime',
    nullable: true,
    description: 'When the customer confirmed it arrived (reportConversion).',
    resolve: async (d: DeliveryWithRelations, _args, ctx) => (await routingOf(ctx, d.id))?.convertedAt ?? null,
  }),
);

import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { statementsSent, type Db } from '../db/client.ts';
import type { DeliveryUpdate } from '../deliveries/records.ts';
import { queueStats } from '../dispatch/jobs.ts';
import { outboxStats } from '../webhooks/outbox.ts';

/** Prometheus metrics of one gateway process, on its own registry (so tests can run several). */
export class Metrics {
  readonly registry = new Registry();
  readonly operations = new Counter({
    name: 'sms_gateway_graphql_operations_total',
    help: 'GraphQL operations by root field, type and outcome',
    labelNames: ['field', 'type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'sms_gateway_graphql_operation_duration_seconds',
    help: 'Time to execute GraphQL operations (subscriptions: to set up)',
    labelNames: ['field', 'type'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'sms_gateway_delivery_updates_total',
    help: 'Delivery status changes recorded by this process, by provider and new status',
    labelNames: ['provider', 'status'] as const,
    registers: [this.registry],
  });
  readonly callbacks = new Counter({
    name: 'sms_gateway_callbacks_total',
    help: 'Provider callbacks by provider and outcome',
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly unknownStatuses = new Counter({
    name: 'sms_gateway_provider_unknown_statuses_total',
    help: 'Statuses a provider reported that the gateway does not know (the delivery is left as it was)',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly providerBalance = new Gauge({
    name: 'sms_gateway_provider_balance',
    help: "Each enabled upstream provider's balance, as last read (in its own currency or unit)",
    labelNames: ['provider', 'currency'] as const,
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: 'sms_gateway_webhook_deliveries_total',
    help: 'Webhook requests made by this process, by outcome (success, http_error, gone, timeout, network_error, refused)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly websockets = new Gauge({
    name: 'sms_gateway_websocket_connections',
    help: 'Open GraphQL WebSocket connections',
    registers: [this.registry],
  });

  constructor(sources: { db: Db; liveSubscribers: () => number }) {
    collectDefaultMetrics({ register: this.registry, prefix: 'sms_gateway_' });
    new Gauge({
      name: 'sms_gateway_live_subscribers',
      help: 'deliveryUpdated subscriptions receiving live updates in this process',
      registers: [this.registry],
      collect() {
        this.set(sources.liveSubscribers());
      },
    });
    new Counter({
      name: 'sms_gateway_db_statements_total',
      help: 'SQL statements sent to PostgreSQL by this process',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(statementsSent(sources.db));
      },
    });
    queueGauges(this.registry, () => queueStats(sources.db), {
      prefix: 'sms_gateway_dispatch_queue',
      depth: 'Dispatch jobs waiting (submissions and status polls, due or not)',
      oldest: 'How long the oldest due dispatch job has been waiting',
    });
    queueGauges(this.registry, () => outboxStats(sources.db), {
      prefix: 'sms_gateway_webhook_queue',
      depth: 'Webhook requests waiting in the outbox (due or waiting for a retry)',
      oldest: 'How long the oldest due webhook request has been waiting',
    });
  }

  recordUpdates(updates: readonly DeliveryUpdate[]): void {
    const counts = new Map<string, { provider: string; status: string; n: number }>();
    for (const { delivery } of updates) {
      const provider = delivery.provider ?? 'none';
      const key = `${provider}\u0000${delivery.status}`;
      const entry = counts.get(key);
      if (entry) entry.n += 1;
      else counts.set(key, { provider, status: delivery.status, n: 1 });
    }
    for (const { provider, status, n } of counts.values()) this.deliveries.inc({ provider, status }, n);
  }
}

type QueueStats = { depth: number; oldestDueAgeSeconds: number };

/** `<prefix>_depth` and `<prefix>_oldest_due_seconds`, from one read per scrape shared by both. */
function queueGauges(registry: Registry, read: () => Promise<QueueStats>, names: { prefix: string; depth: string; oldest: string }) {
  let pending: Promise<QueueStats> | undefined;
  const stats = () => {
    pending ??= read().finally(() => {
      pending = undefined;
    });
    return pending;
  };
  new Gauge({
    name: `${names.prefix}_depth`,
    help: names.depth,
    registers: [registry],
    async collect() {
      this.set((await stats()).depth);
    },
  });
  new Gauge({
    name: `${names.prefix}_oldest_due_seconds`,
    help: names.oldest,
    registers: [registry],
    async collect() {
      this.set((await stats()).oldestDueAgeSeconds);
    },
  });
}

export function registerMetricsRoute(app: FastifyInstance, metrics: Metrics) {
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

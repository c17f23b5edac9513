import type { FastifyInstance } from 'fastify';
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Services } from '../services.ts';

/** Prometheus metrics of one gateway process, on its own registry. */
export function createMetrics(services: Services) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sms_gateway_' });
  new Gauge({
    name: 'sms_gateway_live_subscribers',
    help: 'deliveryUpdated subscriptions receiving live updates in this process',
    registers: [registry],
    collect() {
      this.set(services.feeds.liveSubscribers);
    },
  });
  return registry;
}

export function registerMetricsRoute(app: FastifyInstance, registry: Registry) {
  app.get('/metrics', async (_request, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}

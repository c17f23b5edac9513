import { Gauge, type Registry } from 'prom-client';
import type { Router } from './router.ts';

/** `sms_gateway_route_share` and `sms_gateway_route_delivery_ratio`, per provider and destination, from the router's last reading. */
export function registerRouteGauges(registry: Registry, router: Router): void {
  new Gauge({
    name: 'sms_gateway_route_share',
    help: 'Share of new traffic to a destination (country or network prefix) that routing gives the provider',
    labelNames: ['provider', 'destination'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const route of router.routes()) for (const p of route.providers) this.set({ provider: p.provider, destination: route.destination }, p.share);
    },
  });
  new Gauge({
    name: 'sms_gateway_route_delivery_ratio',
    help: 'Delivery ratio routing measures for the provider and destination over ROUTING_WINDOW_SECONDS (conversions counted above reports)',
    labelNames: ['provider', 'destination'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const route of router.routes()) {
        for (const p of route.providers) if (p.deliveryRatio !== null) this.set({ provider: p.provider, destination: route.destination }, p.deliveryRatio);
      }
    },
  });
}

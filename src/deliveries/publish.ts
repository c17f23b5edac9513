import type { Metrics } from '../http/metrics.ts';
import { groupBy } from '../shared/group-by.ts';
import type { EventBus } from './event-bus.ts';
import type { DeliveryUpdate } from './records.ts';
import { encodeUpdates } from './update-codec.ts';

const CHUNK = 500;

export type Publisher = { bus: EventBus; metrics?: Metrics };

/** Publishes committed updates, one message per account and chunk, in the order recorded. */
export function publishUpdates({ bus, metrics }: Publisher, updates: readonly DeliveryUpdate[]): void {
  metrics?.recordUpdates(updates);
  for (const [accountId, list] of groupBy(updates, (update) => update.delivery.accountId)) {
    bus.publish(accountId, () => {
      const payloads: string[] = [];
      for (let i = 0; i < list.length; i += CHUNK) payloads.push(encodeUpdates(accountId, list.slice(i, i + CHUNK)));
      return payloads;
    });
  }
}

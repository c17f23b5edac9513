import DataLoader from 'dataloader';
import { sqlOf } from '../db/client.ts';
import type { Caller } from '../accounts/caller.ts';
import type { RateClass } from '../accounts/rate-limits.ts';
import { loadAttempts } from '../deliveries/event-log.ts';
import { MESSAGE_SNAPSHOT_COLUMNS, reviveMessage, type AttemptSnapshot, type MessageSnapshot } from '../deliveries/records.ts';
import type { Services } from '../services.ts';

export type GraphQLContext = {
  services: Services;
  caller: Caller;
  loaders: Loaders;
  /** Over WebSocket: where a subscription's results can be written as they are (see shared-subscriptions.ts). */
  subscriptionSink?: SubscriptionSink;
};

/**
 * Writes a subscription's `next` message with a result already serialised. Returns false when
 * it cannot (the result then goes the ordinary way).
 */
export type SubscriptionSink = { write(result: SerialisedResult): boolean };

/** One result as every subscriber with the same selection receives it. */
export type SerialisedResult = {
  /** `encode(json)`, computed once for this result and `key` however many subscribers ask. */
  encoded<T>(key: string, encode: (json: string) => T): T;
};

export type Loaders = ReturnType<typeof createLoaders>;

/** Per-operation batching: a list of deliveries costs one query per relation, not one per row. */
export function createLoaders(services: Services, caller: Caller) {
  const sql = sqlOf(services.db);
  return {
    message: new DataLoader<string, MessageSnapshot | undefined>(async (ids) => {
      const rows = await sql.query<object>(
        {
          name: 'loader-messages',
          text: `SELECT ${MESSAGE_SNAPSHOT_COLUMNS} FROM messages m WHERE m.id = ANY($1::uuid[]) AND m.account_id = $2`,
        },
        [[...ids], caller.accountId],
      );
      const byId = new Map(rows.map((row) => reviveMessage(row)).map((m) => [m.id, m]));
      return ids.map((id) => byId.get(id));
    }),
    attempts: new DataLoader<{ id: string; createdAt: Date }, AttemptSnapshot[], string>(
      async (deliveries) => {
        const byDelivery = await loadAttempts(sql, deliveries);
        return deliveries.map((d) => byDelivery.get(d.id) ?? []);
      },
      { cacheKeyFn: (d) => d.id },
    ),
  };
}

/** Counts one request of `cls` against the caller's key: RATE_LIMITED past the limit. */
export function limit(ctx: GraphQLContext, cls: RateClass): Promise<void> {
  return ctx.services.rateLimiter.consume(ctx.caller.apiKeyId, cls);
}

export function createContext(services: Services, caller: Caller): GraphQLContext {
  return { services, caller, loaders: createLoaders(services, caller) };
}

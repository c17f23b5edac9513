import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { Audience } from './audience.ts';

/**
 * Fan-out of delivery updates between server instances. Redis is for fan-out only: a publish
 * never blocks or fails the caller, and what a subscriber misses while Redis is away it reads
 * back from the event log (see live-feed.ts).
 */
export interface EventBus {
  readonly kind: 'redis' | 'in-process';
  /**
   * Publishes messages, in order, to the account's subscribers on every instance. `payloads` are
   * made only when there is one: a subscriber that comes later reads its starting position after
   * subscribing (see live-feed.ts), so it is past anything committed before the bus found nobody
   * listening. Over Redis, that nobody listens is remembered for a moment (see audience.ts).
   */
  publish(accountId: string, payloads: () => string[]): void;
  /** Resolves once messages published from now on will arrive; returns the unsubscribe. */
  subscribe(accountId: string, onMessage: (payload: string) => void): Promise<() => void>;
  /** Called whenever the bus may have dropped messages and is flowing again. */
  onResume(listener: () => void): void;
  close(): Promise<void>;
}

export function channelFor(prefix: string, accountId: string): string {
  return `${prefix}:deliveries:${accountId}`;
}

export function createInProcessBus(prefix = 'sms-gateway'): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    kind: 'in-process',
    publish(accountId, payloads) {
      const channel = channelFor(prefix, accountId);
      if (emitter.listenerCount(channel) === 0) return;
      for (const payload of payloads()) emitter.emit(channel, payload);
    },
    async subscribe(accountId, onMessage) {
      const channel = channelFor(prefix, accountId);
      emitter.on(channel, onMessage);
      return () => emitter.off(channel, onMessage);
    },
    onResume() {},
    async close() {
      emitter.removeAllListeners();
    },
  };
}

/** host:port of a Redis URL, without its password. */
function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return 'REDIS_URL';
  }
}

export function createRedisBus(url: string, prefix: string, logger: Logger): EventBus {
  // Publishing fails at once while Redis is away instead of queueing without bound.
  const publisher = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false, enableAutoPipelining: true });
  const subscriber = new Redis(url, { maxRetriesPerRequest: null });
  const handlers = new Map<string, Set<(payload: string) => void>>();
  const subscribing = new Map<string, Promise<unknown>>();
  const resumeListeners: Array<() => void> = [];
  const audience = new Audience(publisher, prefix);
  subscriber.subscribe(audience.control, audience.acks).then(
    () => audience.hear(),
    () => undefined,
  );
  let wasDown = false;
  let lastPublishErrorLog = 0;

  // ioredis reports every failed reconnection; one line per outage says all there is to say.
  let outageReported = false;
  for (const client of [publisher, subscriber]) {
    client.on('error', (error: Error & { code?: string }) => {
      if (outageReported) return;
      outageReported = true;
      logger.warn(
        { redis: describeRedisUrl(url), err: error.code ?? error.message },
        `cannot reach Redis at ${describeRedisUrl(url)} (${error.code ?? error.message}): live updates reach only this instance's ` +
          'subscribers (the others catch up from the event log) and rate limits count per instance until it answers; retrying',
      );
    });
    client.on('ready', () => {
      if (publisher.status === 'ready' && subscriber.status === 'ready') outageReported = false;
    });
  }
  subscriber.on('close', () => {
    wasDown = true;
    audience.deaf();
  });
  subscriber.on('ready', () => {
    if (!wasDown) return;
    wasDown = false;
    // 'ready' comes before ioredis re-sends the subscriptions; a PING after them answers once
    // they are in place, and only then is it safe to read what was missed.
    setImmediate(() => {
      subscriber
        .ping()
        .then(async () => {
          audience.hear();
          // Other instances may have found nobody listening while this one was away.
          await audience.announce([...handlers.keys()]);
          logger.info('redis is back; live updates resume');
          for (const listener of resumeListeners) listener();
        })
        .catch(() => undefined);
    });
  });
  subscriber.on('message', (channel: string, payload: string) => {
    if (audience.receive(channel, payload)) return;
    for (const handler of handlers.get(channel) ?? []) handler(payload);
  });

  return {
    kind: 'redis',
    publish(accountId, payloads) {
      const channel = channelFor(prefix, accountId);
      if (audience.nobodyListens(channel)) return;
      const asked = audience.asking();
      // Asked and published on one connection: the answers, and so the publishes, keep their order.
      publisher
        .pubsub('NUMSUB', channel)
        .then((answer) => {
          if (Number((answer as [string, number])[1]) === 0) {
            audience.foundNobody(channel, asked);
            return;
          }
          return Promise.all(payloads().map((payload) => publisher.publish(channel, payload)));
        })
        .catch((error: Error) => {
          const now = Date.now();
          if (now - lastPublishErrorLog > 5000) {
            lastPublishErrorLog = now;
            logger.warn({ err: error.message }, 'redis publish failed; subscribers will catch up from the event log');
          }
        });
    },
    async subscribe(accountId, onMessage) {
      const channel = channelFor(prefix, accountId);
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        // Subscribed, then announced: only then may the feed read its starting position.
        const subscribed = subscriber
          .subscribe(channel)
          .then(() => audience.announce([channel]))
          .catch(() => undefined);
        subscribing.set(channel, subscribed);
        subscribed.finally(() => subscribing.delete(channel));
      }
      set.add(onMessage);
      // While Redis is away the subscription is queued and made on reconnect; the feed catches
      // up then, so there is no reason to hold the subscriber back.
      const pending = subscribing.get(channel);
      if (pending && subscriber.status === 'ready') await pending;
      return () => {
        const current = handlers.get(channel);
        if (!current) return;
        current.delete(onMessage);
        if (current.size === 0) {
          handlers.delete(channel);
          subscriber.unsubscribe(channel).catch(() => undefined);
        }
      };
    },
    onResume(listener) {
      resumeListeners.push(listener);
    },
    async close() {
      handlers.clear();
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}

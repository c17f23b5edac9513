import { Redis } from 'ioredis';
import { AccessTokens } from './accounts/access-tokens.ts';
import { listenForRevocations } from './accounts/key-cache.ts';
import { KeyRateLimiter } from './accounts/rate-limits.ts';
import type { Config } from './config.ts';
import { createDb, type Db } from './db/client.ts';
import { createInProcessBus, createRedisBus, type EventBus } from './deliveries/event-bus.ts';
import { LiveFeeds } from './deliveries/live-feed.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { DEFAULT_RETRY_POLICY } from './dispatch/retry-policy.ts';
import { ProviderThrottle } from './dispatch/throttle.ts';
import { Metrics } from './http/metrics.ts';
import { createAcceptQueue, type Accepted, type AcceptRequest, type HandOver } from './messages/accept.ts';
import type { GroupCommit } from './shared/group-commit.ts';
import type { Logger } from './logger.ts';
import { ProviderHealth } from './providers/health.ts';
import { createProviders } from './providers/index.ts';
import { BalanceMonitor } from './providers/balances.ts';
import { callbackUrl } from './callbacks/urls.ts';
import type { ProviderRegistry } from './providers/registry.ts';
import type { Clock } from './shared/random.ts';
import { registerRouteGauges } from './routing/metrics.ts';
import { Router } from './routing/router.ts';
import { systemResolver, type ResolveHost } from './webhooks/addresses.ts';
import { resolveSecretKey } from './webhooks/secrets.ts';
import { WebhookWorker } from './webhooks/worker.ts';

/** The long-lived parts of one gateway process, shared by HTTP, WebSocket, dispatch and CLI. */
export type Services = {
  config: Config;
  logger: Logger;
  db: Db;
  bus: EventBus;
  /** Redis for commands (rate limits), when configured. */
  redis: Redis | undefined;
  feeds: LiveFeeds;
  providers: ProviderRegistry;
  dispatcher: Dispatcher;
  metrics: Metrics;
  rateLimiter: KeyRateLimiter;
  /** sendSms acceptance, with group commit (see messages/accept.ts). */
  acceptQueue: GroupCommit<AcceptRequest, Accepted>;
  /** Signs and checks browser access tokens (see accounts/access-tokens.ts). */
  accessTokens: AccessTokens;
  /** Stops listening for API key revocations (see accounts/key-cache.ts). */
  stopRevocationListener: () => Promise<void>;
  /** Reads upstream balances now and then (started with the dispatcher). */
  balances: BalanceMonitor;
  /** Measures providers per destination and decides routes (see routing/router.ts). */
  router: Router;
  /** Where providers report delivery; both are known once the server listens. */
  callbacks: { secret: string | undefined; baseUrl: string | undefined };
  webhooks: {
    worker: WebhookWorker;
    /** The key that encrypts signing secrets (see webhooks/secrets.ts), read once. */
    secretKey: () => Promise<Buffer>;
    /** How endpoint host names are resolved, at registration and at every request. */
    resolve: ResolveHost;
  };
};

/** What the outside world looks like to a gateway: the system's resolver, unless a test stands in for DNS. */
export type Surroundings = { resolveHost?: ResolveHost; clock?: Clock };

export function createServices(config: Config, logger: Logger, surroundings: Surroundings = {}): Services {
  // main.ts and the CLI open the database (an embedded one when DATABASE_URL is unset) first.
  if (!config.databaseUrl) throw new Error('createServices needs the database opened: config.databaseUrl is unset');
  const db = createDb(config.databaseUrl, config.dbPoolSize);
  const bus = config.redisUrl ? createRedisBus(config.redisUrl, config.redisPrefix, logger) : createInProcessBus(config.redisPrefix);
  // Commands (rate limits); fails fast while Redis is away, where callers fall back to local limits.
  // Commands issued in one turn of the event loop go out in one write.
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true })
    : undefined;
  redis?.on('error', () => undefined);
  // Every request to a provider, from any dispatcher of this gateway, takes a slot of its rate.
  const throttle = new ProviderThrottle(redis, config.redisPrefix);
  const feeds = new LiveFeeds(db, bus, logger, config.websocket.feedAuditMs);
  const metrics = new Metrics({ db, liveSubscribers: () => feeds.liveSubscribers });
  const providers = createProviders(
    config,
    logger,
    (name, defaultRate, quotas) => () => throttle.take(name, config.providerRates[name] ?? defaultRate, quotas),
    (name) => metrics.unknownStatuses.inc({ provider: name }),
  );
  const router = new Router({ db, providers, logger, routes: config.routes }, config.routing, surroundings.clock);
  registerRouteGauges(metrics.registry, router);
  const callbacks: Services['callbacks'] = { secret: undefined, baseUrl: undefined };
  const rateOf = (name: string) => config.providerRates[name] ?? providers.get(name)?.capabilities.maxRequestsPerSecond ?? Infinity;
  // Below one request a second a provider's pace is what limits what reaches it: its submissions
  // go one at a time, smoothly, each carrying everything that waited (see dispatch/throttle.ts).
  const paced = (name: string) => rateOf(name) < 1 && (providers.get(name)?.capabilities.maxBatchSize ?? 1) > 1;
  const dispatcher = new Dispatcher(
    {
      db,
      bus,
      metrics,
      providers,
      logger,
      health: new ProviderHealth(db),
      submissionTurn: (provider, maxWaitMs) =>
        paced(provider.name) ? throttle.takeSubmission(provider.name, rateOf(provider.name), maxWaitMs) : undefined,
      paced,
    },
    {
      batchSize: config.dispatch.batchSize,
      leaseMs: config.dispatch.leaseMs,
      concurrency: config.dispatch.concurrency,
      gatherMs: config.dispatch.gatherMs,
      pollIntervalMs: config.dispatch.pollIntervalMs,
      retry: { ...DEFAULT_RETRY_POLICY, ...config.retry },
      reportPollAfterMs: config.reportPollAfterMs,
      callbackSafetyPollMs: config.callbackSafetyPollMs,
      callbackUrlFor: (provider) =>
        callbacks.baseUrl && callbacks.secret ? callbackUrl(callbacks.baseUrl, provider, callbacks.secret) : undefined,
    },
  );
  const { thresholds, checkIntervalMs } = config.providerBalances;
  const balances = new BalanceMonitor(
    { providers, metrics, logger },
    { intervalMs: checkIntervalMs, thresholdFor: (name) => thresholds.byProvider[name] ?? thresholds.all },
  );
  const rateLimiter = new KeyRateLimiter(config.rateLimits, redis, config.redisPrefix);
  const stopRevocationListener = listenForRevocations(db, logger);
  const handOver: HandOver = {
    get takes() {
      return dispatcher.takesHandOver;
    },
    worker: dispatcher.worker,
    leaseMs: dispatcher.leaseMs,
    give: (items) => dispatcher.handOver(items),
    submissionSize: (provider) => providers.get(provider)?.capabilities.maxBatchSize ?? 1000,
    paced,
  };
  const acceptQueue = createAcceptQueue({ db, bus, metrics, handOver, onAccepted: (pacedWork) => {
      dispatcher.wake();
      if (pacedWork) dispatcher.wakePaced();
    },
  });
  let key: Promise<Buffer> | undefined;
  const secretKey = () =>
    (key ??= resolveSecretKey(db, config.webhooks.secretKey).catch((error: unknown) => {
      key = undefined;
      throw error;
    }));
  const resolve = surroundings.resolveHost ?? systemResolver;
  const worker = new WebhookWorker(
    {
      db,
      logger,
      secretKey,
      resolve,
      onRequest: (outcome) => metrics.webhookDeliveries.inc({ outcome }),
      attemptRetentionDays: config.history.eventRetentionDays,
    },
    config.webhooks,
  );
  const webhooks = { worker, secretKey, resolve };
  const accessTokens = new AccessTokens(db, config.tokenSigningKey, secretKey);
  return { config, logger, db, bus, redis, feeds, metrics, providers, dispatcher, balances, router, callbacks, rateLimiter, accessTokens, stopRevocationListener, acceptQueue, webhooks };
}

export async function closeServices(services: Services): Promise<void> {
  await services.dispatcher.stop();
  await services.balances.stop();
  await services.router.stop();
  await services.webhooks.worker.stop();
  services.feeds.close();
  await services.stopRevocationListener();
  await services.bus.close();
  services.redis?.disconnect();
  await services.db.$disconnect();
}

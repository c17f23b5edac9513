import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { inject } from 'vitest';
import { createAccount } from '../../src/accounts/accounts.ts';
import { buildApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import type { Surroundings } from '../../src/services.ts';
import { createTestDatabase } from './database.ts';

/** The run's Redis (see global-setup.ts). */
export const REDIS_URL = inject('redisUrl');

export type TestGateway = {
  app: App;
  url: string;
  graphqlUrl: string;
  wsUrl: string;
  databaseUrl: string;
  stop(): Promise<void>;
  /** Resolves once `count` subscribers of the account receive live updates in this gateway. */
  subscribersLive(accountId: string, count?: number): Promise<void>;
  account(options?: { credit?: string; test?: boolean; currency?: string }): Promise<{ accountId: string; apiKey: string; apiKeyId: string }>;
};

/** A gateway in this process on a free port, with its own database and the machine's Redis. */
export async function startGateway(env: Record<string, string> = {}, databaseUrl?: string, logger?: Logger, surroundings?: Surroundings): Promise<TestGateway> {
  const dbUrl = databaseUrl ?? (await createTestDatabase());
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: dbUrl,
    REDIS_URL,
    // Every test gateway counts rate limits on its own, whatever else uses this Redis.
    REDIS_PREFIX: `sgw-test-${randomUUID()}`,
    SANDBOX_DELIVERY_DELAY_MS: '50',
    DISPATCH_POLL_INTERVAL_MS: '50',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  } as NodeJS.ProcessEnv);
  const app = buildApp(config, logger ?? createLogger(config.logLevel), surroundings);
  const url = await app.start();
  const liveCount = new Map<string, number>();
  app.services.feeds.on('live', (id) => liveCount.set(id, (liveCount.get(id) ?? 0) + 1));
  app.services.feeds.on('ended', (id) => liveCount.set(id, (liveCount.get(id) ?? 0) - 1));
  return {
    app,
    url,
    graphqlUrl: `${url}/graphql`,
    wsUrl: `${url.replace(/^http/, 'ws')}/graphql`,
    databaseUrl: dbUrl,
    stop: () => app.stop(),
    async subscribersLive(accountId, count = 1) {
      while ((liveCount.get(accountId) ?? 0) < count) {
        const [id] = (await once(app.services.feeds, 'live')) as [string];
        void id;
      }
    },
    account: (options = {}) =>
      createAccount(app.services.db, {
        name: 'test account',
        currency: options.currency ?? 'USD',
        credit: options.credit ?? '100',
        test: options.test,
      }),
  };
}

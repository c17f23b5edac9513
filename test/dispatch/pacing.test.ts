import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { mimsms } from '../../src/providers/mimsms/index.ts';
import { Throttled, ProviderThrottle } from '../../src/dispatch/throttle.ts';
import { createLogger } from '../../src/logger.ts';
import { REDIS_URL } from '../support/gateway.ts';

// Issue 12: MiM counts requests per minute, hour and day; the gateway paces all three.

describe('provider pacing over longer windows', () => {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  afterAll(() => redis.disconnect());

  it('MiM declares its hourly and daily quotas besides its minute rate', () => {
    const adapter = mimsms.create({ ...mimsms.simulatorConfig, baseUrl: 'http://127.0.0.1:9' }, { logger: createLogger('silent'), timeoutMs: 100 });
    expect(adapter.capabilities.maxRequestsPerSecond * 60).toBe(50);
    expect(adapter.capabilities.quotas).toEqual([
      { requests: 950, seconds: 3600 },
      { requests: 9500, seconds: 86_400 },
    ]);
  });

  it('holds requests back once an hourly quota is used, shared by every instance', async () => {
    await redis.connect();
    const prefix = `sgw-test-${randomUUID()}`;
    const quotas = [{ requests: 3, seconds: 3600 }];
    const [a, b] = [new ProviderThrottle(redis, prefix), new ProviderThrottle(redis, prefix)];
    await a.take('mimsms', 100, quotas);
    await b.take('mimsms', 100, quotas);
    await a.take('mimsms', 100, quotas);
    const refused = await b.take('mimsms', 100, quotas).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Throttled);
    // The wait is the rest of the hour, not a second.
    expect((refused as Throttled).retryInMs).toBeGreaterThan(3_500_000);
  });
});

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createDb } from '../../src/db/client.ts';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import { mimsms } from '../../src/providers/mimsms/index.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import { gqlData } from '../support/client.ts';
import { createTestDatabase } from '../support/database.ts';
import { SendSms } from '../support/documents.ts';
import { eventually, spawnGateway } from '../support/process.ts';
import { Throttled, ProviderThrottle } from '../../src/dispatch/throttle.ts';
import { createLogger } from '../../src/logger.ts';
import { REDIS_URL } from '../support/gateway.ts';
import type { SimulatorServer } from '../../src/providers/simulator/server.ts';

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

/** The sends a NextSMS simulator received (single and multi). */
const textRequests = (sim: SimulatorServer) => sim.requests().filter((r) => r.path.startsWith('/api/sms/v1/text/'));

/** Every number those sends carried, once per time it was sent. */
const numbersSent = (sim: SimulatorServer) =>
  textRequests(sim).flatMap((r) => {
    const to = (r.body as { to: string | string[] }).to;
    return Array.isArray(to) ? to : [to];
  });

// Issue 19: a burst to a paced provider leaves packed, not a few recipients a request.
describe('a burst of sends to a paced provider', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('leaves in as few submissions as NextSMS takes: 300 sends over three instances, at most 5 requests, within seconds', async () => {
    const sim = nextsms.createSimulator(nextsms.simulatorConfig, { reportDelayMs: 50 });
    await sim.start();
    cleanups.push(() => sim.stop());
    const databaseUrl = await createTestDatabase();
    // NextSMS keeps its own pace (a request every 2 s); the gateway's limit on sends per key is raised.
    const env = { DATABASE_URL: databaseUrl, REDIS_URL, ...nextsms.environment(nextsms.simulatorConfig, sim.url), RATE_LIMITS: JSON.stringify({ send: 100_000 }) };
    const gateways = await Promise.all([spawnGateway(env), spawnGateway(env), spawnGateway(env)]);
    cleanups.push(() => Promise.all(gateways.map((g) => g.stop('SIGKILL'))));
    const db = createDb(databaseUrl, 1);
    cleanups.push(() => db.$disconnect());
    const { apiKey } = await createAccount(db, { name: 'burst', currency: 'USD', credit: '100' });

    // Warm first (compiled code, open connections), so the burst is accepted as fast as a warm gateway takes it.
    await Promise.all(
      gateways.map((g, i) =>
        gqlData(`${g.url}/graphql`, apiKey, SendSms, { input: { message: 'warm', recipients: [`+2557129990${i}1`], provider: 'sandbox' } }),
      ),
    );
    const recipients = Array.from({ length: 300 }, (_, i) => `+25571${String(3_000_000 + i * 7).padStart(7, '0')}`);
    const started = Date.now();
    await Promise.all(
      recipients.map((to, i) =>
        gqlData(`${gateways[i % 3]!.url}/graphql`, apiKey, SendSms, { input: { message: 'Your code is 1234', recipients: [to], provider: 'nextsms' } }),
      ),
    );
    const submitted = () => numbersSent(sim);
    await eventually(async () => submitted().length >= recipients.length, 'all 300 to reach NextSMS', 30_000);
    const elapsed = Date.now() - started;
    const requests = textRequests(sim);
    expect(requests.length).toBeLessThanOrEqual(5);
    expect(elapsed).toBeLessThan(15_000);
    // Each number once.
    expect(new Set(submitted().map((n) => n.replace(/\D/g, ''))).size).toBe(recipients.length);
    expect(submitted()).toHaveLength(recipients.length);
  }, 60_000);

  it('packs what fails over to NextSMS as well: 200 sends over two instances, all refused by Mifumo, reach NextSMS in at most 5 requests', async () => {
    const next = nextsms.createSimulator(nextsms.simulatorConfig, { reportDelayMs: 50 });
    const first = mifumo.createSimulator(mifumo.simulatorConfig, { reportDelayMs: 50 });
    await Promise.all([next.start(), first.start()]);
    cleanups.push(() => Promise.all([next.stop(), first.stop()]));
    const databaseUrl = await createTestDatabase();
    const env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      ...nextsms.environment(nextsms.simulatorConfig, next.url),
      // A key Mifumo does not know: it refuses every submission, for good, and each goes on to NextSMS.
      ...mifumo.environment({ ...mifumo.simulatorConfig, apiKey: 'not-the-key' }, first.url),
      RATE_LIMITS: JSON.stringify({ send: 100_000 }),
      // Mifumo's own 100 requests a minute would hold the refusals back for a minute on a busy machine.
      PROVIDER_RATES: JSON.stringify({ mifumo: 50 }),
    };
    const gateways = await Promise.all([spawnGateway(env), spawnGateway(env)]);
    cleanups.push(() => Promise.all(gateways.map((g) => g.stop('SIGKILL'))));
    const db = createDb(databaseUrl, 1);
    cleanups.push(() => db.$disconnect());
    const { apiKey } = await createAccount(db, { name: 'failover', currency: 'USD', credit: '100' });

    const recipients = Array.from({ length: 200 }, (_, i) => `+25574${String(4_000_000 + i * 11).padStart(7, '0')}`);
    await Promise.all(
      recipients.map((to, i) => gqlData(`${gateways[i % 2]!.url}/graphql`, apiKey, SendSms, { input: { message: 'Your code is 5678', recipients: [to] } })),
    );
    const submitted = () => numbersSent(next);
    await eventually(async () => submitted().length >= recipients.length, 'all 200 to reach NextSMS', 30_000);
    expect(first.requests().filter((r) => r.path.includes('/sms')).length).toBeGreaterThan(0);
    const requests = textRequests(next);
    expect(requests.length).toBeLessThanOrEqual(5);
    expect(new Set(submitted().map((n) => n.replace(/\D/g, ''))).size).toBe(recipients.length);
  }, 60_000);
});

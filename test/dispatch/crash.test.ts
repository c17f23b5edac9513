import { afterAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createDb } from '../../src/db/client.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import { gqlData } from '../support/client.ts';
import { createTestDatabase } from '../support/database.ts';
import { SendSms } from '../support/documents.ts';
import { REDIS_URL } from '../support/gateway.ts';
import { eventually, spawnGateway, type GatewayProcess } from '../support/process.ts';

const running: GatewayProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  for (const cleanup of cleanups) await cleanup();
});

/** Everything the NextSMS simulator sent, read through NextSMS's own logs endpoint. */
async function sentByNextsms(baseUrl: string): Promise<Array<{ to: string }>> {
  const { username, password } = nextsms.simulatorConfig;
  const auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const all: Array<{ to: string }> = [];
  for (let offset = 0; ; offset += 500) {
    const response = await fetch(`${baseUrl}/api/sms/v1/logs?limit=500&offset=${offset}`, {
      headers: { authorization: auth, accept: 'application/json', 'content-type': 'application/json' },
    });
    const { results } = (await response.json()) as { results: Array<{ to: string }> };
    all.push(...results);
    if (results.length < 500) return all;
  }
}

describe('a gateway killed in the middle of a load', () => {
  it('loses no delivery and submits none twice to a provider that takes a reference', async () => {
    const sim = nextsms.createSimulator(nextsms.simulatorConfig, { reportDelayMs: 20 });
    await sim.start();
    cleanups.push(() => sim.stop());
    // Every submission answers slowly, so the kill finds some under way.
    sim.injectFault({ kind: 'slow', delayMs: 250, times: 10_000, path: '/api/sms/v1/text/' });
    const databaseUrl = await createTestDatabase();
    const env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      ...nextsms.environment(nextsms.simulatorConfig, sim.url),
      DISPATCH_BATCH_SIZE: '100',
      DISPATCH_LEASE_MS: '2000',
      // Shorter than the lease, as the defaults are (submissions answer in 250 ms here).
      PROVIDER_TIMEOUT_MS: '1500',
      DISPATCH_POLL_INTERVAL_MS: '50',
      REPORT_POLL_AFTER_MS: '100',
      // NextSMS's own pace (30 requests a minute) would make this test take minutes.
      PROVIDER_RATES: JSON.stringify({ nextsms: 20 }),
    };
    const first = await spawnGateway(env);
    running.push(first);
    const db = createDb(databaseUrl, 2);
    cleanups.push(() => db.$disconnect());
    const { apiKey, accountId } = await createAccount(db, { name: 'crash', currency: 'USD', credit: '1000' });
    const recipients = Array.from({ length: 2000 }, (_, i) => `+25571${String(3_000_000 + i * 3).padStart(7, '0')}`);
    await gqlData(`${first.url}/graphql`, apiKey, SendSms, { input: { message: 'survive', recipients, provider: 'nextsms' } });

    // Kill it hard once a few submissions are in: some answered, some under way.
    await new Promise<void>((resolve) => {
      sim.on('request', () => {
        if (sim.requests('/api/sms/v1/text/').length >= 5) resolve();
      });
    });
    first.child.kill('SIGKILL');
    await first.exited;
    const beforeRestart = await db.delivery.count({ where: { accountId, status: { not: 'QUEUED' } } });
    expect(beforeRestart).toBeLessThan(2000);

    const second = await spawnGateway(env);
    running.push(second);
    await eventually(
      async () => (await db.delivery.count({ where: { accountId, status: { in: ['QUEUED', 'SENT'] } } })) === 0,
      'every delivery to end after the restart',
      120_000,
    );

    expect(await db.delivery.count({ where: { accountId } })).toBe(2000);
    const sent = await sentByNextsms(sim.url);
    const perRecipient = new Map<string, number>();
    for (const entry of sent) perRecipient.set(entry.to, (perRecipient.get(entry.to) ?? 0) + 1);
    // Numbers ending in 7 are refused at submission and never sent.
    const sendable = recipients.filter((r) => !r.endsWith('7')).map((r) => r.slice(1));
    expect([...perRecipient.keys()].sort()).toEqual(sendable.sort());
    expect([...perRecipient.values()].every((count) => count === 1)).toBe(true);
    // Some submissions were retried after the crash, and recognised as retries.
    const submissions = sim.requests('/api/sms/v1/text/').map((r) => (r.body as { reference: string }).reference);
    expect(submissions.length).toBeGreaterThan(new Set(submissions).size);
    expect(await db.dispatchJob.count()).toBe(0);
  }, 180_000);
});

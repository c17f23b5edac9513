import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client.ts';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import { gqlData } from '../support/client.ts';
import { createTestDatabase } from '../support/database.ts';
import { SendSms } from '../support/documents.ts';
import { REDIS_URL } from '../support/gateway.ts';
import { eventually, spawnGateway, type GatewayProcess } from '../support/process.ts';
import { createAccount } from '../../src/accounts/accounts.ts';

const running: GatewayProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  for (const cleanup of cleanups) await cleanup();
});

describe('two dispatcher processes on one queue', () => {
  it('submits each of 2,000 deliveries exactly once, and all of them end', async () => {
    const sim = mifumo.createSimulator(mifumo.simulatorConfig, { reportDelayMs: 20 });
    await sim.start();
    cleanups.push(() => sim.stop());
    const databaseUrl = await createTestDatabase();
    const env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      ...mifumo.environment(mifumo.simulatorConfig, sim.url),
      DISPATCH_BATCH_SIZE: '250',
      DISPATCH_POLL_INTERVAL_MS: '50',
      // A callback lost under load is recovered from Mifumo's status endpoint soon, not in 10 min.
      CALLBACK_SAFETY_POLL_MS: '5000',
    };
    const [a, b] = await Promise.all([spawnGateway(env), spawnGateway(env)]);
    running.push(a, b);
    sim.settings.webhookUrl = `${a.url}/callbacks/mifumo?token=${await secretOf(databaseUrl)}`;

    const db = createDb(databaseUrl, 2);
    cleanups.push(() => db.$disconnect());
    const { apiKey, accountId } = await createAccount(db, { name: 'bulk', currency: 'USD', credit: '1000' });
    const recipients = Array.from({ length: 2000 }, (_, i) => `+25571${String(2_000_000 + i * 3).padStart(7, '0')}`);
    // Half through each instance, so both dispatchers find work at once.
    await Promise.all([
      gqlData(`${a.url}/graphql`, apiKey, SendSms, { input: { message: 'bulk', recipients: recipients.slice(0, 1000), provider: 'mifumo' } }),
      gqlData(`${b.url}/graphql`, apiKey, SendSms, { input: { message: 'bulk', recipients: recipients.slice(1000), provider: 'mifumo' } }),
    ]);

    await eventually(
      async () => (await db.delivery.count({ where: { accountId, status: { in: ['QUEUED', 'SENT'] } } })) === 0,
      'all 2,000 deliveries to end',
      150_000,
    ).catch(async (error: Error) => {
      const byStatus = await db.delivery.groupBy({ by: ['status'], where: { accountId }, _count: true });
      const callbacks: Record<string, number> = {};
      for (const c of sim.callbacks) callbacks[String(c.status)] = (callbacks[String(c.status)] ?? 0) + 1;
      throw new Error(`${error.message}: ${JSON.stringify(byStatus)}; callbacks answered ${JSON.stringify(callbacks)}`);
    });
    const submitted = sim
      .requests('/api/integration/v1/sms/send/')
      .flatMap((request) => (request.body as { recipients: string[] }).recipients);
    expect(submitted).toHaveLength(2000);
    expect(new Set(submitted).size).toBe(2000);
    expect(new Set(submitted)).toEqual(new Set(recipients));
    const byStatus = await db.delivery.groupBy({ by: ['status'], where: { accountId }, _count: true });
    expect(byStatus.reduce((n, s) => n + s._count, 0)).toBe(2000);
    expect(await db.dispatchJob.count({ where: { kind: 'SUBMIT' } })).toBe(0);
    // Both did their share: each recorded submissions (SENT) of its own.
    for (const gateway of [a, b]) {
      const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
      const sent = /^sms_gateway_delivery_updates_total\{provider="mifumo",status="SENT"\} (\d+)/m.exec(metrics);
      expect(Number(sent?.[1] ?? 0)).toBeGreaterThan(0);
    }
  }, 200_000);
});

async function secretOf(databaseUrl: string): Promise<string> {
  const db = createDb(databaseUrl, 1);
  try {
    return (await db.setting.findUniqueOrThrow({ where: { key: 'callback_secret' } })).value;
  } finally {
    await db.$disconnect();
  }
}

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually } from '../support/process.ts';
import { TestRedis } from '../support/redis-server.ts';

describe('Redis going away and coming back', () => {
  let redis: TestRedis;
  let gateway: TestGateway;

  beforeAll(async () => {
    redis = await TestRedis.start();
    gateway = await startGateway({ REDIS_URL: redis.url, SANDBOX_DELIVERY_DELAY_MS: '30' });
  });
  afterAll(async () => {
    await gateway.stop();
    await redis.kill();
  });

  it('keeps sending and dispatching, and a monitor resuming from its cursor gets every update once', async () => {
    const { apiKey, accountId } = await gateway.account({ credit: '100' });
    const monitor = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
    await gateway.subscribersLive(accountId);

    let sends = 0;
    const sendSome = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const n = String(sends++).padStart(3, '0');
        const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, {
          input: { message: `load ${n}`, recipients: [`+255712345${n}`, `+255713345${n}`] },
        });
        expect(sent.sendSms.message.recipientCount).toBe(2);
      }
    };

    await sendSome(10);
    await monitor.until((items) => items.length > 0, 'a first update');
    await redis.kill();
    await sendSome(10); // Redis is down: every send must still succeed.
    const db = gateway.app.services.db;
    await eventually(
      async () => (await db.delivery.count({ where: { accountId, status: { in: ['QUEUED', 'SENT'] } } })) === 0,
      'dispatch to go on without Redis',
    );
    await redis.start();
    await sendSome(10);

    // The monitor reconnects with the last cursor it saw.
    monitor.dispose();
    const seen = [...monitor.items];
    const resumed = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated, { after: seen.at(-1)!.deliveryUpdated.cursor });
    const total = async () => db.deliveryEvent.count({ where: { accountId } });
    await eventually(
      async () => (await db.delivery.count({ where: { accountId, status: { in: ['QUEUED', 'SENT'] } } })) === 0,
      'every delivery to end',
    );
    const expected = await total();
    // QUEUED, SENT and a final status for each of 60 deliveries; the sandbox rejects numbers
    // ending in 7 at submission, without a SENT.
    const rejected = await db.delivery.count({ where: { accountId, status: 'REJECTED' } });
    expect(rejected).toBe(6);
    expect(expected).toBe(60 * 3 - rejected);
    await resumed.until((items) => seen.length + items.length >= expected, `every update (expected ${expected}, seen before ${seen.length})`, 30_000);
    resumed.dispose();

    const cursors = [...seen, ...resumed.items].map((u) => u.deliveryUpdated.cursor);
    expect(cursors).toHaveLength(expected);
    expect(new Set(cursors).size).toBe(expected);
  });
});

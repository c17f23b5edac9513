import { afterAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createDb } from '../../src/db/client.ts';
import { encodeCursor } from '../../src/deliveries/event-log.ts';
import { freePort } from '../../src/shared/free-port.ts';
import { gqlData } from '../support/client.ts';
import { createTestDatabase } from '../support/database.ts';
import { CreateWebhookEndpoint, SendSms } from '../support/documents.ts';
import { REDIS_URL } from '../support/gateway.ts';
import { eventually, spawnGateway, type GatewayProcess } from '../support/process.ts';
import { verified, WebhookReceiver } from '../support/webhook-receiver.ts';

const running: GatewayProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  for (const cleanup of cleanups) await cleanup();
});

describe('webhooks across a kill -9', () => {
  it('delivers every event at least once when the receiver was down and the gateway was killed', async () => {
    const databaseUrl = await createTestDatabase();
    const env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      WEBHOOK_ALLOW_PRIVATE_URLS: '1',
      WEBHOOK_RETRY_BASE_MS: '100',
      WEBHOOK_LEASE_MS: '2000',
      SANDBOX_DELIVERY_DELAY_MS: '50',
      DISPATCH_POLL_INTERVAL_MS: '50',
    };
    const first = await spawnGateway(env);
    running.push(first);
    const db = createDb(databaseUrl, 2);
    cleanups.push(() => db.$disconnect());
    const { apiKey, accountId } = await createAccount(db, { name: 'hooks', currency: 'USD', test: true });
    // The receiver's port, with nothing listening on it yet: every request is refused.
    const receiver = new WebhookReceiver(await freePort());
    cleanups.push(() => receiver.stop());
    const { createWebhookEndpoint } = await gqlData(`${first.url}/graphql`, apiKey, CreateWebhookEndpoint, { input: { url: `${receiver.url}/down` } });

    for (let i = 0; i < 20; i++) {
      await gqlData(`${first.url}/graphql`, apiKey, SendSms, { input: { message: `crash ${i}`, recipients: [`+255712345${String(i).padStart(2, "0")}1`] } });
    }
    // Each message: QUEUED, SENT, DELIVERED. Kill once all are in the log, with requests failing.
    await eventually(async () => (await db.deliveryEvent.count({ where: { accountId } })) === 60, 'sixty events', 30_000);
    await eventually(async () => (await db.webhookAttempt.count({ where: { accountId } })) >= 20, 'refused requests', 30_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const waiting = await db.webhookOutbox.count({ where: { accountId } });
    expect(waiting).toBe(60);

    const second = await spawnGateway(env);
    running.push(second);
    await receiver.start();
    const expected = Array.from({ length: 60 }, (_, i) => encodeCursor(BigInt(i + 1)));
    await receiver.until((r) => new Set(r.map((x) => String(x.headers['webhook-id']))).size === 60, 'every event', 90_000);
    const ids = new Set(receiver.received.map((r) => verified(createWebhookEndpoint.secret, r).id));
    expect([...ids].sort()).toEqual(expected.sort());
    await eventually(async () => (await db.webhookOutbox.count()) === 0, 'an empty outbox', 30_000);
  }, 180_000);
});

import { once } from 'node:events';
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createDb } from '../../src/db/client.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import { gqlData } from '../support/client.ts';
import { createTestDatabase } from '../support/database.ts';
import { SendSms } from '../support/documents.ts';
import { REDIS_URL } from '../support/gateway.ts';
import { spawnGateway, type GatewayProcess } from '../support/process.ts';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('SIGTERM', () => {
  it('finishes the submission under way, hands back its other claims, closes WebSockets with 1001 and exits 0', async () => {
    const sim = nextsms.createSimulator(nextsms.simulatorConfig, { reportDelayMs: 50 });
    await sim.start();
    cleanups.push(() => sim.stop());
    sim.injectFault({ kind: 'slow', delayMs: 800, times: 1000, path: '/api/sms/v1/text/' });
    const databaseUrl = await createTestDatabase();
    const gateway: GatewayProcess = await spawnGateway({
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      ...nextsms.environment(nextsms.simulatorConfig, sim.url),
      DISPATCH_BATCH_SIZE: '300',
      PROVIDER_RATES: JSON.stringify({ nextsms: 100 }),
    });
    cleanups.push(() => gateway.stop('SIGKILL'));
    const db = createDb(databaseUrl, 2);
    cleanups.push(() => db.$disconnect());
    const { apiKey, accountId } = await createAccount(db, { name: 'shutdown', currency: 'USD', credit: '100' });

    const socket = new WebSocket(`${gateway.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    await once(socket, 'open');
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${apiKey}` } }));
    await once(socket, 'message');
    const closed = once(socket, 'close') as Promise<[number]>;

    const submitted = once(sim, 'request');
    const recipients = Array.from({ length: 300 }, (_, i) => `+25571${String(7_000_000 + i * 3).padStart(7, '0')}`);
    await gqlData(`${gateway.url}/graphql`, apiKey, SendSms, { input: { message: 'bye', recipients, provider: 'nextsms' } });
    await submitted; // The first submission of 100 is under way (it answers in 800 ms).
    gateway.child.kill('SIGTERM');

    expect(await gateway.exited).toBe(0);
    const [code] = await closed;
    expect(code).toBe(1001);
    // The submission under way was finished and recorded; the rest waits, unclaimed, for the next dispatcher.
    const sent = sim.requests('/api/sms/v1/text/').flatMap((r) => {
      const to = (r.body as { to: string | string[] }).to;
      return Array.isArray(to) ? to : [to];
    });
    expect(await db.delivery.count({ where: { accountId, status: { not: 'QUEUED' } } })).toBe(sent.length);
    expect(await db.dispatchJob.count({ where: { lockedBy: { not: null } } })).toBe(0);
    expect(await db.dispatchJob.count({ where: { kind: 'SUBMIT' } })).toBe(300 - sent.length);
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createDb } from '../../src/db/client.ts';
import { mtnCongo } from '../../src/providers/mtn_congo/index.ts';
import { createMtnCongoSimulator } from '../../src/providers/mtn_congo/simulator.ts';
import { freePort } from '../../src/shared/free-port.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { createTestDatabase } from '../support/database.ts';
import { DeliveryUpdated, MessageById, SendSms } from '../support/documents.ts';
import { REDIS_URL } from '../support/gateway.ts';
import { eventually, liveSubscribers, spawnGateway, updatesRecordedBy, type GatewayProcess } from '../support/process.ts';

// Issue 19: several instances share one PostgreSQL and one Redis, as the README says. MTN Congo
// calls back the URL each submission names, and takes a reference (externalId) that makes a
// resent submission a retry rather than a second SMS.

const LEASE_MS = 4000;
const FINAL = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];

const running: GatewayProcess[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const gateway of running) gateway.child.kill('SIGCONT');
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  for (const cleanup of cleanups) await cleanup();
});

const numbers = (from: number, count: number) => Array.from({ length: count }, (_, i) => `+24206${String(from + i).padStart(7, '0')}`);
const digits = (number: string) => number.replace(/\D/g, '');

describe('three gateway processes on one database and one Redis', () => {
  it('share the sends, carry every update to a subscriber on another, and take over the claims of one killed', async () => {
    const sim = createMtnCongoSimulator(mtnCongo.simulatorConfig, { reportDelayMs: 50 });
    await sim.start();
    cleanups.push(() => sim.stop());
    const databaseUrl = await createTestDatabase();
    const env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      ...mtnCongo.environment(mtnCongo.simulatorConfig, sim.url),
      DISPATCH_BATCH_SIZE: '20',
      DISPATCH_CONCURRENCY: '3',
      DISPATCH_POLL_INTERVAL_MS: '50',
      DISPATCH_LEASE_MS: String(LEASE_MS),
      // Shorter than the lease, as the defaults are.
      PROVIDER_TIMEOUT_MS: '3000',
      PROVIDER_RATES: JSON.stringify({ mtn_congo: 100 }),
      // The test reads the deliveries as often as it can while it waits.
      RATE_LIMITS: JSON.stringify({ status: 1_000_000 }),
    };
    // Behind one public address, the third's: every instance names it to MTN Congo for callbacks.
    const thirdPort = await freePort();
    const publicUrl = `http://127.0.0.1:${thirdPort}`;
    const [first, second, third] = await Promise.all([
      spawnGateway({ ...env, PUBLIC_URL: publicUrl }),
      spawnGateway({ ...env, PUBLIC_URL: publicUrl }),
      spawnGateway({ ...env, PUBLIC_URL: publicUrl, PORT: String(thirdPort) }),
    ]);
    running.push(first, second, third);
    const db = createDb(databaseUrl, 1);
    cleanups.push(() => db.$disconnect());
    const { apiKey } = await createAccount(db, { name: 'three', currency: 'USD', credit: '1000' });
    const statusesOf = async (messageId: string) =>
      new Map((await gqlData(`${first.url}/graphql`, apiKey, MessageById, { id: messageId })).message!.deliveries.map((d) => [d.recipient, d.status]));
    const allFinal = (messageId: string) =>
      eventually(async () => {
        const statuses = await statusesOf(messageId);
        return [...statuses.values()].every((status) => FINAL.includes(status)) && statuses;
      }, `every delivery of ${messageId} to end`, 30_000);

    // A subscriber on the first; a send through each; submissions slow enough to overlap.
    const updates = new Collector(wsClient(`${first.url.replace('http', 'ws')}/graphql`, apiKey), DeliveryUpdated);
    cleanups.push(async () => updates.dispose());
    await eventually(async () => (await liveSubscribers(first.url)) >= 1, 'the subscription to be live');
    sim.injectFault({ kind: 'slow', delayMs: 500, times: 1000 });
    const sends = await Promise.all(
      [first, second, third].map((gateway, i) =>
        gqlData(`${gateway.url}/graphql`, apiKey, SendSms, { input: { message: `spread ${i}`, recipients: numbers(1_000_000 + i * 1000, 100), provider: 'mtn_congo' } }),
      ),
    );
    const [, final] = await Promise.all(sends.map((send) => allFinal(send.sendSms.message.id)));
    sim.clearFaults();
    // Each dispatcher submitted a share.
    for (const gateway of [first, second, third]) expect(await updatesRecordedBy(gateway.url, 'mtn_congo', 'SENT')).toBeGreaterThan(0);

    // The subscriber on the first saw every update of the send made on the second.
    const sentOnSecond = sends[1]!.sendSms.message.id;
    const ofSecond = (items: typeof updates.items) => items.filter((u) => u.deliveryUpdated.messageId === sentOnSecond).map((u) => u.deliveryUpdated.delivery);
    await updates.until((items) => {
      const last = new Map(ofSecond(items).map((d) => [d.recipient, d.status]));
      return [...final!].every(([recipient, status]) => last.get(recipient) === status);
    }, 'the final status of every delivery sent on the second');
    for (const [recipient, status] of final!) {
      expect(ofSecond(updates.items).filter((d) => d.recipient === recipient).map((d) => d.status), recipient).toEqual(['QUEUED', 'SENT', status]);
    }
    // Their reports came to the third, which took them.
    const reportsOfSecond = sim.callbacks.filter((c) => final!.has(`+${(c.body as { receivers?: Array<{ receiver: string }> }).receivers?.[0]?.receiver}`));
    expect(reportsOfSecond.length).toBe(100);
    expect(reportsOfSecond.every((c) => c.url.startsWith(`${publicUrl}/callbacks/mtn_congo?`) && c.status === 200)).toBe(true);

    // kill -9 of the second while it alone holds claims, three of its submissions under way.
    for (const gateway of [first, third]) gateway.child.kill('SIGSTOP');
    const smsBefore = sim.sms.length;
    const requestsBefore = sim.requests().length;
    sim.injectFault({ kind: 'slow', delayMs: 1000, times: 3 });
    const doomed = numbers(2_000_000, 200);
    // Three texts: MTN Congo takes one request per text, so three requests go out together.
    const thirds = [doomed.slice(0, 67), doomed.slice(67, 134), doomed.slice(134)];
    const big = await Promise.all(
      thirds.map((recipients, i) =>
        gqlData(`${second.url}/graphql`, apiKey, SendSms, { input: { message: `survive ${i}`, recipients, provider: 'mtn_congo' } }),
      ),
    );
    await eventually(async () => sim.requests().length >= requestsBefore + 3, 'three submissions of the second under way');
    second.child.kill('SIGKILL');
    const killedAt = Date.now();
    await second.exited;
    for (const gateway of [first, third]) gateway.child.kill('SIGCONT');

    // What was under way ends through the others, once the second's lease has lapsed.
    const underWay = new Set(
      sim
        .requests()
        .slice(requestsBefore, requestsBefore + 3)
        .flatMap((r) => (r.body as { receivers: string }).receivers.split(',').map((receiver) => `+${digits(receiver)}`)),
    );
    const bigIds = new Set(big.map((sent) => sent.sendSms.message.id));
    await updates.until((items) => {
      const ended = new Set(items.filter((u) => bigIds.has(u.deliveryUpdated.messageId) && FINAL.includes(u.deliveryUpdated.delivery.status)).map((u) => u.deliveryUpdated.delivery.recipient));
      return [...underWay].every((recipient) => ended.has(recipient));
    }, 'the end of the submissions under way at the kill');
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(LEASE_MS / 2);
    // Nothing lost, nothing sent twice.
    const ended = await Promise.all([...bigIds].map((id) => allFinal(id)));
    expect(ended.reduce((n, statuses) => n + statuses.size, 0)).toBe(doomed.length);
    expect(sim.sms.slice(smsBefore).map((sms) => `+${digits(sms.receiver)}`).toSorted()).toEqual(doomed.toSorted());
    // The others sent again what was under way, under its reference: MTN Congo took it as a retry.
    const externalIds = sim.requests().slice(requestsBefore).map((r) => (r.body as { externalId?: string }).externalId);
    const underWayIds = new Set(externalIds.slice(0, 3));
    expect(externalIds.slice(3).filter((id) => underWayIds.has(id)).length).toBeGreaterThan(0);
  }, 60_000);
});

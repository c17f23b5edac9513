import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import type { SentCallback, SimulatorServer } from '../../src/providers/simulator/server.ts';
import type { SmsProvider } from '../../src/providers/types.ts';
import { manualClock } from '../support/manual-clock.ts';

// Issue 21: a simulator misbehaves on demand (a delivery ratio, a report delay, a change at a
// given time), so routing can be shown and tested against it.
describe('a simulator scenario', () => {
  const clock = manualClock();
  let sim: SimulatorServer;
  let provider: SmsProvider;
  let reported = 0;

  beforeAll(async () => {
    sim = mifumo.createSimulator(mifumo.simulatorConfig, {
      reportDelayMs: 20,
      rateLimits: false,
      clock,
      scenario: { deliveryRatio: 1, changes: [{ atMs: 60_000, deliveryRatio: 0.6, reportDelayMs: 400 }] },
    } as never);
    await sim.start();
    // Mifumo reports to the URL set in its dashboard: nothing listens there, the reports are recorded all the same.
    sim.configure({ webhookUrl: 'http://127.0.0.1:9/callbacks/mifumo' });
    provider = mifumo.create({ ...mifumo.simulatorConfig, baseUrl: sim.url }, { logger: createLogger('silent'), timeoutMs: 5000 });
  });
  afterAll(() => sim?.stop());

  /** Sends `count` texts and resolves with their final reports (Mifumo's webhooks), each with how long it took. */
  async function sendAndReport(count: number): Promise<Array<{ status: string; afterMs: number }>> {
    const recipients = Array.from({ length: count }, (_, i) => `+2557130${String(10_000 + i * 10 + (i % 7)).padStart(5, '0')}`);
    const sentAt = Date.now();
    for (let i = 0; i < count; i += 100) {
      const items = recipients.slice(i, i + 100).map((recipient) => ({ deliveryId: randomUUID(), messageId: randomUUID(), recipient, text: 'Scenario' }));
      const outcomes = await provider.send({ senderId: 'ACME', items });
      expect(outcomes.every((o) => o.outcome === 'accepted')).toBe(true);
    }
    const isFinal = (c: SentCallback) => ['delivered', 'failed'].includes((c.body as { status: string }).status);
    const callbacks = await new Promise<SentCallback[]>((resolve) => {
      const check = () => sim.callbacks.filter((c) => c.status !== 'pending' && isFinal(c)).length >= reported + count && resolve(sim.callbacks);
      sim.on('callback', check);
      check();
    });
    const finals = callbacks.filter((c) => c.status !== 'pending' && isFinal(c)).slice(reported);
    reported += count;
    return finals.map((c) => ({ status: (c.body as { status: string }).status, afterMs: c.at.getTime() - sentAt }));
  }

  it('delivers everything until the change, then fails 40% after acceptance and reports late', async () => {
    const before = await sendAndReport(200);
    expect(before.every((r) => r.status === 'delivered')).toBe(true);

    clock.advance(60_000);
    expect(sim.scenarioNow()).toEqual({ deliveryRatio: 0.6, reportDelayMs: 400 });
    const after = await sendAndReport(500);
    const delivered = after.filter((r) => r.status === 'delivered').length / after.length;
    expect(delivered).toBeGreaterThan(0.5);
    expect(delivered).toBeLessThan(0.7);
    expect(Math.min(...after.map((r) => r.afterMs))).toBeGreaterThanOrEqual(400);
  });

  it('takes a scenario over HTTP, and refuses one it cannot read', async () => {
    const post = (body: unknown) =>
      fetch(`${sim.url}/__simulator/scenario`, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: await r.json() }));
    expect(await post({ deliveryRatio: 2 })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/deliveryRatio/) } });
    expect(await post({ changes: [{ deliveryRatio: 0.5 }] })).toMatchObject({ status: 400, body: { error: expect.stringMatching(/atMs/) } });
    expect(sim.scenarioNow()).toEqual({ deliveryRatio: 0.6, reportDelayMs: 400 });
    expect(await post({ deliveryRatio: 0, failAs: 'EXPIRED' })).toMatchObject({ status: 200, body: { now: { deliveryRatio: 0, failAs: 'EXPIRED' } } });
    expect(sim.outcomeFor('+255713012340')).toBe('EXPIRED');
    // The last-digit rule still comes first: 7 is refused whatever the scenario.
    expect(sim.outcomeFor('+255713012347')).toBe('REJECTED');
  });
});

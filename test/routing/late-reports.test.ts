import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKET_MS, startRig, WINDOW_MS, type Rig } from './rig.ts';

// Acceptance 2 of issue 21: the same with reports that come late instead of failing. Mifumo's
// reports start arriving 2.5 s after acceptance, against a latency bound of 1 s (the window and
// the draws are the test's; the delay is real, and short).
describe('adaptive routing when a provider reports late', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({
      env: { ROUTING_LATENCY_BOUND_SECONDS: '1' },
      scenarios: {
        mifumo: { reportDelayMs: 50, changes: [{ atMs: WINDOW_MS, reportDelayMs: 2500 }, { atMs: WINDOW_MS + BUCKET_MS, reportDelayMs: 50 }] },
      },
    });
    const warm = await rig.send(400);
    await rig.settle(warm);
    expect(await rig.inTanzania('mifumo')).toMatchObject({ state: 'chosen', deliveryRatio: 1 });
  });
  afterAll(() => rig?.stop());

  it('moves at least 90% of new Tanzanian traffic to NextSMS once Mifumo delivers beyond the latency bound', async () => {
    rig.clock.advance(WINDOW_MS);
    const first = await rig.send(400);
    await rig.settle(first);
    const mifumo = await rig.inTanzania('mifumo');
    // Everything is delivered, late: the ratio is fine, the latency is not.
    expect(mifumo).toMatchObject({ deliveryRatio: 1, state: 'slow' });
    expect(mifumo.p90DeliverySeconds).toBeGreaterThan(1);
    const nextsms = await rig.inTanzania('nextsms');
    expect(nextsms).toMatchObject({ state: 'chosen', share: 0.95 });
    expect(nextsms.p90DeliverySeconds).toBeLessThan(1);

    const next = await rig.send(500);
    const { byProvider, explored, total } = await rig.carried(next);
    expect(byProvider.nextsms! / total).toBeGreaterThanOrEqual(0.9);
    expect(explored.mifumo ?? 0).toBe(byProvider.mifumo ?? 0);
    expect((byProvider.mifumo ?? 0) / total).toBeLessThanOrEqual(0.05);
    await rig.settle(next);
  });

  it('gives Mifumo its share back once it is fast again and its late reports leave the window', async () => {
    rig.clock.advance(BUCKET_MS);
    const exploring = await rig.send(400);
    await rig.settle(exploring);
    rig.clock.advance(WINDOW_MS - BUCKET_MS);
    await rig.gateway.app.services.router.tick();
    const mifumo = await rig.inTanzania('mifumo');
    expect(mifumo).toMatchObject({ state: 'chosen', share: 0.95 });
    expect(mifumo.p90DeliverySeconds).toBeLessThan(1);

    const back = await rig.send(400);
    const { byProvider, total } = await rig.carried(back);
    expect(byProvider.mifumo! / total).toBeGreaterThanOrEqual(0.9);
    await rig.settle(back);
  });
});

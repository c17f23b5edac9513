import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gqlData } from '../support/client.ts';
import { MessageRouting } from './documents.ts';
import { BUCKET_MS, startRig, WINDOW_MS, type Rig } from './rig.ts';

// Acceptance 1 of issue 21: Mifumo (cheaper) starts failing 40% of what it accepts; after the
// minimum of reports Tanzanian traffic goes to NextSMS, Mifumo keeps only the exploration share,
// and when it recovers its share comes back. The clock and the random source are the test's.
const LONG = 'Habari! '.repeat(25); // 200 characters: more than Mifumo takes

describe('adaptive routing when a provider starts failing', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({
      scenarios: {
        // Healthy for a window, then 40% FAILED after acceptance, then healthy again a bucket later.
        mifumo: { deliveryRatio: 1, changes: [{ atMs: WINDOW_MS, deliveryRatio: 0.6 }, { atMs: WINDOW_MS + BUCKET_MS, deliveryRatio: 1 }] },
      },
    });
  });
  afterAll(() => rig?.stop());

  it('measures both providers and prefers the cheaper Mifumo while both deliver', async () => {
    const sent = await rig.send(600);
    await rig.settle(sent);
    const route = await rig.tanzania();
    // MiM SMS is on the route but does not deliver to Tanzania: routing never considers it.
    expect(route.providers.map((p) => p.provider)).toEqual(['mifumo', 'nextsms']);
    const [mifumo, nextsms] = route.providers;
    expect(mifumo).toMatchObject({ deliveryRatio: 1, state: 'chosen', share: 0.95, pricePerDelivered: '0.0150' });
    expect(nextsms).toMatchObject({ deliveryRatio: 1, state: 'costlier', share: 0.05 });
    expect(nextsms!.reports).toBeGreaterThanOrEqual(10);
    expect(mifumo!.medianDeliverySeconds).toBeLessThan(1);

    // A text Mifumo cannot carry goes to NextSMS, exploration or not.
    const long = await rig.send(100, LONG);
    await rig.settle(long);
    expect((await rig.carried(long)).byProvider).toEqual({ nextsms: 100 });
    expect(rig.sims.mimsms.requests()).toHaveLength(0);
  });

  it('moves at least 90% of new Tanzanian traffic to NextSMS once Mifumo fails 40% after the minimum of reports', async () => {
    rig.clock.advance(WINDOW_MS); // the healthy window is forgotten; Mifumo's scenario turns bad
    const first = await rig.send(400);
    await rig.settle(first);
    const mifumo = await rig.inTanzania('mifumo');
    expect(mifumo.reports).toBeGreaterThanOrEqual(10);
    expect(mifumo.deliveryRatio).toBeGreaterThan(0.5);
    expect(mifumo.deliveryRatio).toBeLessThan(0.7);
    expect(mifumo.state).toBe('low-ratio');
    expect(await rig.inTanzania('nextsms')).toMatchObject({ state: 'chosen', share: 0.95, deliveryRatio: 1 });
    expect((await rig.tanzania()).reason).toMatch(/^nextsms has the lowest expected cost per delivered message.*; mifumo: delivery ratio too far below the best$/);

    const next = await rig.send(500);
    const { byProvider, explored, total } = await rig.carried(next);
    expect(total).toBe(500);
    expect(byProvider.nextsms! / total).toBeGreaterThanOrEqual(0.9);
    // Whatever went to Mifumo went there to explore, within the bound.
    expect(explored.mifumo ?? 0).toBe(byProvider.mifumo ?? 0);
    expect((byProvider.mifumo ?? 0) / total).toBeLessThanOrEqual(0.05);
    expect(Object.keys(byProvider).sort()).toEqual(['mifumo', 'nextsms'].slice(byProvider.mifumo ? 0 : 1));

    // Each delivery says why.
    const { deliveryReports } = await gqlData(rig.gateway.graphqlUrl, rig.apiKey, MessageRouting, { id: next[0]! });
    const chosen = deliveryReports.edges.map((e) => e.node).find((d) => !d.routing!.explored)!;
    expect(chosen.routing).toMatchObject({ mode: 'adaptive', explored: false, destination: 'TZ' });
    expect(chosen.routing!.candidates.map((c) => [c.provider, c.state])).toEqual([['nextsms', 'chosen'], ['mifumo', 'low-ratio']]);
    expect(chosen.routing!.candidates[0]!.score).toBeCloseTo(0.02, 4);
    expect(chosen.routing!.candidates[1]!.deliveryRatio).toBeLessThan(0.7);
    expect(chosen.routing!.reason).toMatch(/nextsms has the lowest expected cost per delivered message.*mifumo: delivery ratio too far below the best/);
    await rig.settle(next);
  });

  it("gives Mifumo its share back once it recovers and its failures leave the window", async () => {
    rig.clock.advance(BUCKET_MS); // Mifumo delivers again; it gets only explored traffic meanwhile
    const exploring = await rig.send(400);
    await rig.settle(exploring);
    const { explored } = await rig.carried(exploring);
    expect(explored.mifumo).toBeGreaterThanOrEqual(10);
    expect((await rig.inTanzania('nextsms')).state).toBe('chosen');

    rig.clock.advance(WINDOW_MS - BUCKET_MS); // the failing bucket leaves the window, the recovered one stays
    await rig.gateway.app.services.router.tick();
    const mifumo = await rig.inTanzania('mifumo');
    expect(mifumo).toMatchObject({ deliveryRatio: 1, state: 'chosen', share: 0.95 });
    expect(mifumo.reports).toBe(explored.mifumo);

    const back = await rig.send(400);
    const { byProvider, total } = await rig.carried(back);
    expect(byProvider.mifumo! / total).toBeGreaterThanOrEqual(0.9);
    await rig.settle(back);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlOf } from '../../src/db/client.ts';
import { gqlData } from '../support/client.ts';
import { MessageRouting } from './documents.ts';
import { startRig, type Rig } from './rig.ts';

// Acceptance 3 of issue 21: ROUTING_MODE=static (the default) routes as before, whatever the
// measurements say. Here it measures (ROUTING_MEASURE=on), so operators can watch before they
// opt in, while Mifumo fails 40% of what it accepts.
describe('static routing', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({ env: { ROUTING_MODE: 'static', ROUTING_MEASURE: 'on' }, scenarios: { mifumo: { deliveryRatio: 0.6 } } });
  });
  afterAll(() => rig?.stop());

  it('sends every Tanzanian message to the first provider of the route that can carry it, and says so', async () => {
    const sent = await rig.send(300);
    await rig.settle(sent);
    expect((await rig.carried(sent)).byProvider).toEqual({ mifumo: 300 });
    const [explained] = await sqlOf(rig.gateway.app.services.db).query<{ n: number }>(`SELECT count(*)::int AS n FROM deliveries WHERE routing IS NOT NULL`);
    expect(explained!.n).toBe(0);

    const { deliveryReports } = await gqlData(rig.gateway.graphqlUrl, rig.apiKey, MessageRouting, { id: sent[0]! });
    expect(deliveryReports.edges[0]!.node.routing).toMatchObject({
      mode: 'static',
      explored: false,
      destination: null,
      candidates: [
        { provider: 'mifumo', state: 'chosen', score: null },
        { provider: 'nextsms', state: 'next', score: null },
      ],
    });
    expect(deliveryReports.edges[0]!.node.routing!.reason).toMatch(/ROUTING_MODE=static: mifumo is the first provider of the configured route/);

    // Measured all the same, and shown with the share static routing gives.
    const mifumo = await rig.inTanzania('mifumo');
    expect(mifumo).toMatchObject({ share: 1, state: 'chosen', reports: 300 });
    expect(mifumo.deliveryRatio).toBeLessThan(0.7);
    expect(await rig.inTanzania('nextsms')).toMatchObject({ share: 0, state: 'next', reports: 0 });

    const metrics = await (await fetch(`${rig.gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/^sms_gateway_route_share\{provider="mifumo",destination="TZ"\} 1$/m);
    expect(metrics).toMatch(/^sms_gateway_route_share\{provider="nextsms",destination="TZ"\} 0$/m);
    expect(metrics).toMatch(/^sms_gateway_route_delivery_ratio\{provider="mifumo",destination="TZ"\} 0\.[56]\d*$/m);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/accounts/accounts.ts';
import { globalIdOf } from '../../src/graphql/ids.ts';
import { gql, gqlData } from '../support/client.ts';
import { SendSms } from '../support/documents.ts';
import { ReportConversion } from './documents.ts';
import { startRig, type Rig } from './rig.ts';

// Conversions count above delivery reports: Mifumo (cheaper) reports every message DELIVERED,
// but customers confirm only a third of what it carried against nine in ten of NextSMS's.
describe('conversions', () => {
  let rig: Rig;
  const convert = (deliveryId: string, apiKey = rig.apiKey) => gql(rig.gateway.graphqlUrl, apiKey, ReportConversion, { deliveryId });

  beforeAll(async () => {
    rig = await startRig({ env: { RATE_LIMITS: JSON.stringify({ send: 100_000 }) } });
  });
  afterAll(() => rig?.stop());

  it('takes a provider that fakes DELIVERED off the destination', async () => {
    const sent = await rig.send(600);
    await rig.settle(sent);
    expect(await rig.inTanzania('mifumo')).toMatchObject({ state: 'chosen', deliveryRatio: 1 });

    const deliveries = await rig.deliveries(sent);
    expect(deliveries.every((d) => d.status === 'DELIVERED')).toBe(true);
    const seen = { mifumo: 0, nextsms: 0 };
    for (const d of deliveries) {
      const provider = d.provider as keyof typeof seen;
      seen[provider] += 1;
      const arrived = provider === 'nextsms' ? seen[provider] % 10 !== 0 : seen[provider] % 10 < 3;
      if (!arrived) continue;
      const result = await convert(d.id);
      expect(result.errors).toBeUndefined();
      expect(result.data!.reportConversion).toMatchObject({ id: d.id, provider, status: 'DELIVERED' });
      expect(result.data!.reportConversion.convertedAt).toEqual(expect.any(String));
    }
    await rig.gateway.app.services.router.tick();

    const mifumo = await rig.inTanzania('mifumo');
    expect(mifumo.reportedDeliveryRatio).toBe(1);
    expect(mifumo.deliveryRatio).toBeLessThan(0.4);
    expect(mifumo.state).toBe('low-ratio');
    expect(await rig.inTanzania('nextsms')).toMatchObject({ state: 'chosen', deliveryRatio: 1 });
    expect((await rig.inTanzania('nextsms')).conversions).toBeGreaterThanOrEqual(10);

    const next = await rig.send(300);
    const { byProvider, total } = await rig.carried(next);
    expect(byProvider.nextsms! / total).toBeGreaterThanOrEqual(0.9);
    await rig.settle(next);
  });

  it('counts a conversion once, however often it is reported', async () => {
    const [message] = await rig.send(1);
    await rig.settle([message!]);
    const [delivery] = await rig.deliveries([message!]);
    const before = await rig.inTanzania(delivery!.provider!);
    const first = await convert(delivery!.id);
    const again = await convert(delivery!.id);
    expect(again.data!.reportConversion.convertedAt).toBe(first.data!.reportConversion.convertedAt);
    await rig.gateway.app.services.router.tick();
    expect((await rig.inTanzania(delivery!.provider!)).conversions).toBe(before.conversions + 1);
  });

  it("refuses what cannot have arrived, another account's deliveries and keys without send, and records nothing", async () => {
    const codeOf = async (deliveryId: string, apiKey?: string) => (await convert(deliveryId, apiKey)).errors?.map((e) => e.extensions?.code);
    expect(await codeOf(globalIdOf('Delivery', '0193a4f2-0000-7000-8000-000000000000'))).toEqual(['DELIVERY_NOT_FOUND']);
    expect(await codeOf('not-an-id')).toEqual(['DELIVERY_NOT_FOUND']);
    expect(await codeOf(globalIdOf('Message', '0193a4f2-0000-7000-8000-000000000000'))).toEqual(['DELIVERY_NOT_FOUND']);

    const [message] = await rig.send(1);
    await rig.settle([message!]);
    const [theirs] = await rig.deliveries([message!]);
    const other = await rig.gateway.account();
    expect(await codeOf(theirs!.id, other.apiKey)).toEqual(['DELIVERY_NOT_FOUND']);

    // A scheduled delivery has not been handed to anyone.
    const scheduled = await gqlData(rig.gateway.graphqlUrl, rig.apiKey, SendSms, {
      input: { message: 'Later', recipients: ['+255712999990'], scheduleTime: new Date(Date.now() + 3_600_000).toISOString() },
    });
    const waiting = scheduled.sendSms.message.deliveries[0]!.id;
    expect(await codeOf(waiting)).toEqual(['DELIVERY_NOT_SENT']);

    const reader = await createApiKey(rig.gateway.app.services.db, rig.accountId, { scopes: ['read'] });
    expect(await codeOf(theirs!.id, reader.apiKey)).toEqual(['INSUFFICIENT_PERMISSIONS']);

    const recorded = await rig.gateway.app.services.db.deliveryConversion.count({ where: { accountId: other.accountId } });
    expect(recorded).toBe(0);
    expect(await rig.gateway.app.services.db.deliveryConversion.count({ where: { recipient: '+255712999990' } })).toBe(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/messages/money.ts';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import type { SimulatorServer } from '../../src/providers/simulator/server.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { Balance, DeliveryUpdated, MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const FINAL = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];

describe('retries, failover and refunds', () => {
  let sim: SimulatorServer;
  let gateway: TestGateway;

  beforeAll(async () => {
    sim = mifumo.createSimulator(mifumo.simulatorConfig, { reportDelayMs: 50, rateLimits: false } as never);
    await sim.start();
    gateway = await startGateway({
      ...mifumo.environment(mifumo.simulatorConfig, sim.url),
      // Tanzania: Mifumo, then the sandbox. Kenya: Mifumo only.
      ROUTES: JSON.stringify({ default: ['mifumo'], TZ: ['mifumo', 'sandbox'] }),
      DISPATCH_RETRY_BASE_MS: '20',
      DISPATCH_MAX_SUBMIT_ATTEMPTS: '3',
    });
    sim.settings.webhookUrl = `${gateway.url}/callbacks/mifumo?token=${gateway.app.services.callbacks.secret}`;
  });
  afterAll(async () => {
    await gateway.stop();
    await sim.stop();
  });
  afterAll(() => sim.clearFaults());

  /** Sends and waits (on the subscription) until every delivery of the message is final. */
  async function sendAndSettle(apiKey: string, accountId: string, input: { message: string; recipients: string[] }) {
    const updates = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
    await gateway.subscribersLive(accountId);
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input });
    await updates.until(
      (items) => items.filter((u) => FINAL.includes(u.deliveryUpdated.delivery.status)).length === input.recipients.length,
      'every delivery to end',
    );
    updates.dispose();
    return (await gqlData(gateway.graphqlUrl, apiKey, MessageById, { id: sent.sendSms.message.id })).message!;
  }

  it('retries a provider that answers 500 and then recovers', async () => {
    const { apiKey, accountId } = await gateway.account();
    sim.injectFault({ kind: 'http500', times: 2, path: '/api/integration/v1/sms/send/' });
    const message = await sendAndSettle(apiKey, accountId, { message: 'retry me', recipients: ['+255712345671'] });
    const [delivery] = message.deliveries;
    expect(delivery).toMatchObject({ status: 'DELIVERED', provider: 'mifumo' });
    expect(delivery!.attempts.map((a) => [a.provider, a.outcome, a.errorCode])).toEqual([
      ['mifumo', 'RETRY', 'PROVIDER_ERROR'],
      ['mifumo', 'RETRY', 'PROVIDER_ERROR'],
      ['mifumo', 'SUBMITTED', null],
    ]);
  });

  it('fails over to the next provider of the route when one keeps failing', async () => {
    const { apiKey, accountId } = await gateway.account();
    sim.injectFault({ kind: 'http500', times: 3, path: '/api/integration/v1/sms/send/' });
    const message = await sendAndSettle(apiKey, accountId, { message: 'fail over', recipients: ['+255712345672'] });
    const [delivery] = message.deliveries;
    expect(delivery).toMatchObject({ status: 'DELIVERED', provider: 'sandbox' });
    // A 500 may come after Mifumo took the message: after the last try it is asked once more
    // (its delivery reports) before the next provider is given it.
    expect(delivery!.attempts.map((a) => [a.provider, a.outcome, a.errorCode])).toEqual([
      ['mifumo', 'RETRY', 'PROVIDER_ERROR'],
      ['mifumo', 'RETRY', 'PROVIDER_ERROR'],
      ['mifumo', 'RETRY', 'PROVIDER_ERROR'],
      ['mifumo', 'FAILED_OVER', 'PROVIDER_NO_ANSWER'],
      ['sandbox', 'SUBMITTED', null],
    ]);
    expect(sim.requests('/api/integration/v1/sms/delivery-reports/').length).toBeGreaterThanOrEqual(3);
  });

  it('routes past a provider that cannot carry the text, without asking it', async () => {
    const { apiKey, accountId } = await gateway.account();
    const sends = sim.requests('/api/integration/v1/sms/send/').length;
    // Mifumo takes at most 160 characters: a two-part message goes to the sandbox.
    const message = await sendAndSettle(apiKey, accountId, { message: 'x'.repeat(200), recipients: ['+255712345673'] });
    expect(message.deliveries[0]!.attempts.map((a) => [a.provider, a.outcome, a.errorCode])).toEqual([['sandbox', 'SUBMITTED', null]]);
    expect(message.deliveries[0]!.status).toBe('DELIVERED');
    expect(sim.requests('/api/integration/v1/sms/send/')).toHaveLength(sends);
  });

  it('ends FAILED with no provider left and refunds to the cent', async () => {
    const { apiKey, accountId } = await gateway.account({ credit: '10' });
    sim.injectFault({ kind: 'http500', times: 3, path: '/api/integration/v1/sms/send/' });
    // Two Kenyan numbers (route: Mifumo only), 2 segments each at the 0.05 default price
    // (155 characters: within Mifumo's 160, sent joined).
    const message = await sendAndSettle(apiKey, accountId, { message: 'y'.repeat(149) + '€€€€€€', recipients: ['+254712345671', '+254712345672'] });
    expect(message.cost).toBe('0.20');
    expect(message.status).toBe('FAILED');
    for (const delivery of message.deliveries) {
      expect(delivery).toMatchObject({ status: 'FAILED', errorCode: 'PROVIDER_NO_ANSWER' });
      expect(delivery.attempts.at(-1)).toMatchObject({ provider: 'mifumo', outcome: 'FAILED' });
    }
    expect((await gqlData(gateway.graphqlUrl, apiKey, Balance)).balance.amount).toBe('10.00');
    const ledger = await gateway.app.services.db.ledgerEntry.findMany({ where: { accountId }, orderBy: { id: 'asc' } });
    expect(ledger.map((e) => [e.kind, e.amount.toString(), e.balanceAfter.toString()])).toEqual([
      ['CREDIT', '10', '10'],
      ['DEBIT', '-0.2', '9.8'],
      ['REFUND', '0.1', expect.stringMatching(/^9\.9$|^10$/)],
      ['REFUND', '0.1', expect.stringMatching(/^9\.9$|^10$/)],
    ]);
    const sum = ledger.reduce((total, e) => total.plus(e.amount.toString()), new Decimal(0));
    expect(sum.toString()).toBe('10');
  });

  it('does not refund what a provider took and then failed to deliver', async () => {
    const { apiKey, accountId } = await gateway.account({ credit: '1' });
    const message = await sendAndSettle(apiKey, accountId, { message: 'charged', recipients: ['+255712345678'] });
    expect(message.deliveries[0]).toMatchObject({ status: 'FAILED', provider: 'mifumo', errorCode: 'MIFUMO_FAILED' });
    expect((await gqlData(gateway.graphqlUrl, apiKey, Balance)).balance.amount).toBe('0.98');
  });
});

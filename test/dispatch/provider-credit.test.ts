import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import { createNextsmsSimulator } from '../../src/providers/nextsms/simulator.ts';
import type { SimulatorServer } from '../../src/providers/simulator/server.ts';
import { gqlData } from '../support/client.ts';
import { MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually } from '../support/process.ts';
import { capturingLogger } from '../providers/harness.ts';

// Acceptance 5 of issue 12: upstream credit is visible, and running out of it fails traffic over.

describe('upstream balances', () => {
  let nextsmsSim: SimulatorServer;
  let mifumoSim: SimulatorServer;
  let gateway: TestGateway;
  const { logger, lines } = capturingLogger();

  beforeAll(async () => {
    nextsmsSim = createNextsmsSimulator(nextsms.simulatorConfig, { reportDelayMs: 50, smsBalance: 3 });
    mifumoSim = mifumo.createSimulator(mifumo.simulatorConfig, { reportDelayMs: 50, rateLimits: false } as never);
    await Promise.all([nextsmsSim.start(), mifumoSim.start()]);
    gateway = await startGateway(
      {
        ...nextsms.environment(nextsms.simulatorConfig, nextsmsSim.url),
        ...mifumo.environment(mifumo.simulatorConfig, mifumoSim.url),
        ROUTES: JSON.stringify({ default: ['mifumo'], TZ: ['nextsms', 'mifumo'] }),
        REPORT_POLL_AFTER_MS: '100',
        CALLBACK_SAFETY_POLL_MS: '100',
        PROVIDER_BALANCE_WARN_THRESHOLD: JSON.stringify({ nextsms: '5', mifumo: '10' }),
        PROVIDER_BALANCE_CHECK_MS: '600000',
      },
      undefined,
      logger,
    );
  });
  afterAll(async () => {
    await gateway.stop();
    await Promise.all([nextsmsSim.stop(), mifumoSim.stop()]);
  });

  const metrics = async () => (await fetch(`${gateway.url}/metrics`)).text();
  const logged = (message: string) => lines.map((line) => JSON.parse(line) as { msg: string; provider?: string; level: number }).filter((l) => l.msg === message);

  async function settled(apiKey: string, messageId: string) {
    return eventually(async () => {
      const message = (await gqlData(gateway.graphqlUrl, apiKey, MessageById, { id: messageId })).message!;
      return message.deliveries.every((d) => d.status === 'DELIVERED') && message;
    }, 'every delivery delivered');
  }

  it('shows each balance in the metric, warns below the threshold, and fails over from a provider out of credit', async () => {
    // Read at start: NextSMS has 3 SMS (below 5), Mifumo 100 USD (above 10).
    await eventually(async () => /sms_gateway_provider_balance\{provider="nextsms",currency="SMS"\} 3\b/.test(await metrics()), 'the NextSMS balance metric');
    expect(await metrics()).toMatch(/sms_gateway_provider_balance\{provider="mifumo",currency="USD"\} 100\b/);
    const warnings = logged('provider balance is below the warning threshold');
    expect(warnings.map((w) => [w.provider, w.level])).toEqual([['nextsms', 40]]);

    // Four numbers, three SMS of credit: the fourth is refused for want of credit and goes to Mifumo.
    const { apiKey } = await gateway.account();
    const recipients = ['+255712345671', '+255712345672', '+255712345673', '+255712345674'];
    const first = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'Credit', recipients } });
    const message = await settled(apiKey, first.sendSms.message.id);
    const providers = message.deliveries.map((d) => d.provider).sort();
    expect(providers).toEqual(['mifumo', 'nextsms', 'nextsms', 'nextsms']);
    const failedOver = message.deliveries.find((d) => d.provider === 'mifumo')!;
    expect(failedOver.attempts.map((a) => [a.provider, a.outcome, a.errorCode])).toEqual([
      ['nextsms', 'FAILED_OVER', 'NEXTSMS_REJECTED_NOT_ENOUGH_CREDITS'],
      ['mifumo', 'SUBMITTED', null],
    ]);
    expect(logged('the provider says our account there has no credit: routing skips it until its balance is read above the threshold')).toHaveLength(1);

    // Until its balance is read above the threshold, NextSMS is skipped without being asked.
    const submissions = nextsmsSim.requests('/api/sms/v1/text').length;
    const second = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'Skipped', recipients: ['+255712345675'] } });
    const skipped = (await settled(apiKey, second.sendSms.message.id)).deliveries[0]!;
    expect(skipped.attempts.map((a) => [a.provider, a.outcome, a.errorCode])).toEqual([
      ['nextsms', 'FAILED_OVER', 'PROVIDER_OUT_OF_CREDIT'],
      ['mifumo', 'SUBMITTED', null],
    ]);
    expect(nextsmsSim.requests('/api/sms/v1/text')).toHaveLength(submissions);

    // Topped up: the next read of its balance puts it back in routing.
    nextsmsSim.configure({ smsBalance: 500 });
    await gateway.app.services.balances.readAll();
    expect(await metrics()).toMatch(/sms_gateway_provider_balance\{provider="nextsms",currency="SMS"\} 500\b/);
    const third = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'Back', recipients: ['+255712345676'] } });
    expect((await settled(apiKey, third.sendSms.message.id)).deliveries[0]).toMatchObject({ provider: 'nextsms' });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import { mimsms } from '../../src/providers/mimsms/index.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import type { SimulatorServer } from '../../src/providers/simulator/server.ts';
import { gqlData } from '../support/client.ts';
import { MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually } from '../support/process.ts';

// Acceptance 3 of issue 12: a submission whose answer is lost (the provider took it, then the
// connection dropped) is not sent again when the provider can be asked.

describe('submissions whose answers were lost', () => {
  const sims: Record<'mifumo' | 'nextsms' | 'mimsms', SimulatorServer> = {
    mifumo: mifumo.createSimulator(mifumo.simulatorConfig, { reportDelayMs: 50, rateLimits: false } as never),
    nextsms: nextsms.createSimulator(nextsms.simulatorConfig, { reportDelayMs: 50 }),
    mimsms: mimsms.createSimulator(mimsms.simulatorConfig, { reportDelayMs: 50, rateLimits: false } as never),
  };
  let gateway: TestGateway;

  beforeAll(async () => {
    await Promise.all(Object.values(sims).map((sim) => sim.start()));
    gateway = await startGateway({
      ...mifumo.environment(mifumo.simulatorConfig, sims.mifumo.url),
      ...nextsms.environment(nextsms.simulatorConfig, sims.nextsms.url),
      ...mimsms.environment(mimsms.simulatorConfig, sims.mimsms.url),
      // One provider per country, so that nothing fails over.
      ROUTES: JSON.stringify({ default: ['mifumo'], TZ: ['nextsms'], BD: ['mimsms'] }),
      REPORT_POLL_AFTER_MS: '100',
      CALLBACK_SAFETY_POLL_MS: '100',
      DISPATCH_RETRY_BASE_MS: '20',
      PROVIDER_BALANCE_CHECK_MS: '0',
    });
  });
  afterAll(async () => {
    await gateway.stop();
    await Promise.all(Object.values(sims).map((sim) => sim.stop()));
  });

  async function sendAndWait(recipients: string[], until: (statuses: string[]) => boolean) {
    const { apiKey } = await gateway.account();
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'Lost answer', recipients } });
    return eventually(async () => {
      const message = (await gqlData(gateway.graphqlUrl, apiKey, MessageById, { id: sent.sendSms.message.id })).message!;
      return until(message.deliveries.map((d) => d.status)) && message;
    }, 'the deliveries to settle');
  }

  it('NextSMS: asks its logs by reference, does not send again, and ends with the right status', async () => {
    const sim = sims.nextsms;
    sim.injectFault({ kind: 'drop', times: 1, path: '/api/sms/v1/text/single' });
    const recipients = ['+255712345671', '+255712345678'];
    const message = await sendAndWait(recipients, (s) => s.every((status) => status !== 'QUEUED' && status !== 'SENT'));

    const byRecipient = Object.fromEntries(message.deliveries.map((d) => [d.recipient, d]));
    expect(byRecipient['+255712345671']).toMatchObject({ status: 'DELIVERED', provider: 'nextsms' });
    expect(byRecipient['+255712345678']).toMatchObject({ status: 'FAILED', errorCode: 'NEXTSMS_UNDELIVERABLE' });
    for (const delivery of message.deliveries) {
      expect(delivery.attempts.map((a) => [a.provider, a.outcome, a.errorCode])).toEqual([
        ['nextsms', 'RETRY', 'PROVIDER_UNREACHABLE'],
        ['nextsms', 'SUBMITTED', null],
      ]);
    }
    // One submission, and the simulator's own record (its logs) has each number once.
    expect(sim.requests('/api/sms/v1/text/single')).toHaveLength(1);
    const logs = await fetch(`${sim.url}/api/sms/v1/logs`, {
      headers: { authorization: `Basic ${Buffer.from('simuser:sim-pass').toString('base64')}`, accept: 'application/json' },
    });
    const rows = ((await logs.json()) as { results: Array<{ to: string }> }).results;
    expect(rows.map((row) => row.to).sort()).toEqual(['255712345671', '255712345678']);
  });

  it('Mifumo: finds the submission in its delivery reports, does not send again, and ends with the right status', async () => {
    const sim = sims.mifumo;
    sim.injectFault({ kind: 'drop', times: 1, path: '/api/integration/v1/sms/send/' });
    const recipients = ['+254712345671', '+254712345672'];
    const message = await sendAndWait(recipients, (s) => s.every((status) => status === 'DELIVERED'));

    for (const delivery of message.deliveries) {
      expect(delivery).toMatchObject({ status: 'DELIVERED', provider: 'mifumo', providerMessageId: expect.stringMatching(/^msg_/) });
      expect(delivery.attempts.map((a) => [a.provider, a.outcome, a.errorCode])).toEqual([
        ['mifumo', 'RETRY', 'PROVIDER_UNREACHABLE'],
        ['mifumo', 'SUBMITTED', null],
      ]);
    }
    const sends = sim.requests('/api/integration/v1/sms/send/');
    expect(sends.flatMap((r) => (r.body as { recipients: string[] }).recipients)).toEqual(recipients);
    expect(sim.requests('/api/integration/v1/sms/delivery-reports/').length).toBeGreaterThanOrEqual(1);
  });

  it('Mifumo: the same text sent to the same number before is not taken for the lost one', async () => {
    const sim = sims.mifumo;
    const number = '+254712345674';
    await sendAndWait([number], (s) => s[0] === 'DELIVERED');
    sim.injectFault({ kind: 'drop', times: 1, path: '/api/integration/v1/sms/send/' });
    const before = sim.requests('/api/integration/v1/sms/send/').length;
    const again = await sendAndWait([number], (s) => s[0] === 'DELIVERED');
    const [delivery] = again.deliveries;
    expect(delivery!.attempts.map((a) => a.outcome)).toEqual(['RETRY', 'SUBMITTED']);
    // Found under the id Mifumo gave the lost submission, not the first message's; sent once.
    expect(sim.requests('/api/integration/v1/sms/send/')).toHaveLength(before + 1);
    const ids = await gateway.app.services.db.delivery.findMany({ where: { recipient: number }, select: { providerMessageId: true } });
    expect(new Set(ids.map((d) => d.providerMessageId)).size).toBe(2);
  });

  it('MiM SMS, which cannot be asked: not sent again, and the delivery says its fate is unconfirmed', async () => {
    const sim = sims.mimsms;
    sim.injectFault({ kind: 'drop', times: 1, path: '/send-sms' });
    const message = await sendAndWait(['+8801712345671'], (s) => s[0] === 'SENT');
    const [delivery] = message.deliveries;
    expect(delivery).toMatchObject({ status: 'SENT', provider: 'mimsms', errorCode: 'PROVIDER_UNCONFIRMED' });
    expect(delivery!.attempts.map((a) => [a.provider, a.outcome, a.errorCode])).toEqual([
      ['mimsms', 'UNCONFIRMED', 'PROVIDER_UNREACHABLE'],
      ['mimsms', 'SUBMITTED', null],
    ]);
    expect(sim.requests('/send-sms')).toHaveLength(1);
  });
});

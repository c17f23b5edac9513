import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import { createNextsmsSimulator } from '../../src/providers/nextsms/simulator.ts';
import type { SimulatedOutcome, SimulatorServer } from '../../src/providers/simulator/server.ts';
import { gqlData } from '../support/client.ts';
import { MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually } from '../support/process.ts';

// Acceptance 4 of issue 12: two NextSMS deliveries to one number each get their own report, even
// from a NextSMS whose logs do not filter by reference (they never show it). Issue 19: whether
// NextSMS writes its dates (which carry no zone) in Tanzanian time or in UTC.

describe.each(['tanzania', 'utc'] as const)('NextSMS reports of one number sent to twice, dates written in %s time', (datesIn) => {
  let sim: SimulatorServer;
  let gateway: TestGateway;
  let fate: SimulatedOutcome = 'DELIVERED';

  beforeAll(async () => {
    // Reports come 2 s after submission, so the second send is at least 2 s after the first.
    sim = createNextsmsSimulator(nextsms.simulatorConfig, {
      reportDelayMs: 2000,
      referenceFilter: false,
      datesIn,
      outcomeFor: (_recipient, text) => (text?.startsWith('Fail') ? 'FAILED' : fate),
    });
    await sim.start();
    gateway = await startGateway({
      ...nextsms.environment(nextsms.simulatorConfig, sim.url),
      ROUTES: JSON.stringify({ default: ['nextsms'] }),
      REPORT_POLL_AFTER_MS: '100',
      PROVIDER_BALANCE_CHECK_MS: '0',
      // The test reads the deliveries as often as it can while it waits.
      RATE_LIMITS: JSON.stringify({ status: 1_000_000 }),
    });
  });
  afterAll(async () => {
    await gateway.stop();
    await sim.stop();
  });

  async function deliveryOf(apiKey: string, messageId: string) {
    return (await gqlData(gateway.graphqlUrl, apiKey, MessageById, { id: messageId })).message!.deliveries[0]!;
  }

  it('gives each delivery the report of its own submission', async () => {
    const { apiKey } = await gateway.account();
    const number = '+255712345671';
    const first = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'First', recipients: [number] } });
    await eventually(async () => (await deliveryOf(apiKey, first.sendSms.message.id)).status === 'DELIVERED', 'the first delivered', 30_000);

    fate = 'FAILED';
    const second = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'Second', recipients: [number] } });
    // While its own log row is still pending, the first one's DELIVERED row is not taken for it.
    const sentAt = await eventually(async () => {
      const delivery = await deliveryOf(apiKey, second.sendSms.message.id);
      return delivery.status === 'SENT' && new Date(delivery.sentAt!);
    }, 'the second sent');
    await eventually(async () => sim.requests('/api/sms/v1/logs').some((r) => r.at > sentAt), 'a poll of the second');
    expect((await deliveryOf(apiKey, second.sendSms.message.id)).status).toBe('SENT');
    const failed = await eventually(async () => {
      const delivery = await deliveryOf(apiKey, second.sendSms.message.id);
      return delivery.status === 'FAILED' && delivery;
    }, 'the second to fail', 30_000);
    expect(failed.errorCode).toBe('NEXTSMS_UNDELIVERABLE');
    expect((await deliveryOf(apiKey, first.sendSms.message.id)).status).toBe('DELIVERED');
  });

  it('gives two deliveries to one number in one submission a report each', async () => {
    fate = 'DELIVERED';
    const { apiKey } = await gateway.account();
    const number = '+255712345682';
    // Due at the same moment, so the dispatcher submits them together, under one reference.
    const scheduleTime = new Date(Date.now() + 1500).toISOString();
    const send = (message: string) => gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message, recipients: [number], scheduleTime } });
    const delivered = await send('Deliver this one');
    const failing = await send('Fail this one');
    const finalStatus = (messageId: string) =>
      eventually(async () => {
        const { status } = await deliveryOf(apiKey, messageId);
        return !['SCHEDULED', 'QUEUED', 'SENT'].includes(status) && status;
      }, `the final status of ${messageId}`, 30_000);
    expect(await finalStatus(delivered.sendSms.message.id)).toBe('DELIVERED');
    expect(await finalStatus(failing.sendSms.message.id)).toBe('FAILED');
    const submissions = sim.requests().filter((r) => r.method === 'POST' && JSON.stringify(r.body).includes(number.slice(1)));
    expect(submissions).toHaveLength(1);
    expect(submissions[0]!.body).toMatchObject({ messages: [{ to: number.slice(1) }, { to: number.slice(1) }] });
  });
});

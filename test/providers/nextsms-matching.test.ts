import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import { createNextsmsSimulator } from '../../src/providers/nextsms/simulator.ts';
import type { SimulatedOutcome, SimulatorServer } from '../../src/providers/simulator/server.ts';
import { gqlData } from '../support/client.ts';
import { MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually } from '../support/process.ts';

// Acceptance 4 of issue 12: two NextSMS deliveries to one number each get their own report, even
// from a NextSMS whose logs do not filter by reference (they never show it).

describe('NextSMS reports of one number sent to twice', () => {
  let sim: SimulatorServer;
  let gateway: TestGateway;
  let fate: SimulatedOutcome = 'DELIVERED';

  beforeAll(async () => {
    // Reports come 2 s after submission, so the second send is at least 2 s after the first.
    sim = createNextsmsSimulator(nextsms.simulatorConfig, { reportDelayMs: 2000, referenceFilter: false, outcomeFor: () => fate });
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
});

import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import type { RecordedRequest, SimulatorServer } from '../../src/providers/simulator/server.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

describe('scheduled messages', () => {
  let sim: SimulatorServer;
  let gateway: TestGateway;

  beforeAll(async () => {
    sim = mifumo.createSimulator(mifumo.simulatorConfig, { reportDelayMs: 50 });
    await sim.start();
    gateway = await startGateway({ ...mifumo.environment(mifumo.simulatorConfig, sim.url), DISPATCH_POLL_INTERVAL_MS: '200' });
  });
  afterAll(async () => {
    await gateway.stop();
    await sim.stop();
  });

  it('holds a message until its time, then submits it within a second', async () => {
    const { apiKey, accountId } = await gateway.account();
    const updates = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
    await gateway.subscribersLive(accountId);
    const scheduleTime = new Date(Date.now() + 1500);
    const submitted = once(sim, 'request') as Promise<[RecordedRequest]>;
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, {
      input: { message: 'later', recipients: ['+255712345671'], provider: 'mifumo', scheduleTime: scheduleTime.toISOString() },
    });
    expect(sent.sendSms.message).toMatchObject({ status: 'SCHEDULED', scheduledAt: scheduleTime.toISOString() });
    expect(sent.sendSms.message.deliveries[0]!.status).toBe('SCHEDULED');

    const [request] = await submitted;
    const lateBy = request.at.getTime() - scheduleTime.getTime();
    expect(lateBy).toBeGreaterThanOrEqual(0);
    expect(lateBy).toBeLessThan(1000);
    await updates.until((items) => items.some((u) => u.deliveryUpdated.delivery.status === 'SENT'), 'SENT');
    updates.dispose();
    expect(updates.items.map((u) => u.deliveryUpdated.delivery.status).slice(0, 2)).toEqual(['SCHEDULED', 'SENT']);
    expect(sim.requests('/api/integration/v1/sms/send/')).toHaveLength(1);
  });
});

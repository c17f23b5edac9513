import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIFUMO_PATH } from '../../src/providers/mifumo/adapter.ts';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import { gqlData } from '../support/client.ts';
import { MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { eventually, updatesRecordedBy } from '../support/process.ts';

// The dispatcher records what it learns about deliveries it read when it took their job. A
// report may reach the gateway by another way in between: here Mifumo's callback lands while
// the dispatcher's safety poll of the same message is still waiting for Mifumo's answer. The
// poll's news is then stale, and must change nothing.

describe('a report that arrives while the dispatcher is asking for it', () => {
  const sim = mifumo.createSimulator(mifumo.simulatorConfig, { reportDelayMs: 300, rateLimits: false } as never);
  let gateway: TestGateway;

  beforeAll(async () => {
    await sim.start();
    gateway = await startGateway({
      ...mifumo.environment(mifumo.simulatorConfig, sim.url),
      ROUTES: JSON.stringify({ default: ['mifumo'] }),
      CALLBACK_SAFETY_POLL_MS: '100',
      PROVIDER_BALANCE_CHECK_MS: '0',
    });
    sim.settings.webhookUrl = `${gateway.url}/callbacks/mifumo?token=${encodeURIComponent(gateway.app.services.callbacks.secret!)}`;
  });
  afterAll(async () => {
    await gateway.stop();
    await sim.stop();
  });

  it('is recorded once: the poll answering the same afterwards adds no second DELIVERED', async () => {
    // The safety poll asks 100 ms after the submission; Mifumo answers it 1.5 s later, long after
    // its callback (300 ms) was recorded.
    sim.injectFault({ kind: 'slow', delayMs: 1500, times: 1, path: `${MIFUMO_PATH}/sms/status/` });
    const { apiKey } = await gateway.account();
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'Raced', recipients: ['+255712345671'] } });

    await eventually(async () => (await updatesRecordedBy(gateway.url, 'mifumo', 'DELIVERED')) === 1, 'the callback to be recorded');
    expect(sim.requests(`${MIFUMO_PATH}/sms/status/`)).toHaveLength(1);
    // The poll's round is over once nothing waits in the queue: its answer has been weighed.
    await eventually(async () => /^sms_gateway_dispatch_queue_depth 0$/m.test(await (await fetch(`${gateway.url}/metrics`)).text()), 'the poll to finish');

    expect(await updatesRecordedBy(gateway.url, 'mifumo', 'DELIVERED')).toBe(1);
    const message = (await gqlData(gateway.graphqlUrl, apiKey, MessageById, { id: sent.sendSms.message.id })).message!;
    expect(message.status).toBe('DELIVERED');
    expect(message.deliveries.map((d) => d.status)).toEqual(['DELIVERED']);
  });
});

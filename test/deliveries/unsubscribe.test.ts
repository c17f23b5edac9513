import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

describe('ending a subscription', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ DISPATCHER: 'off' });
  });
  afterAll(() => gateway.stop());

  it('lets go of everything at once, even when nothing is coming for it', async () => {
    const { apiKey, accountId } = await gateway.account();
    const quiet = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'quiet', recipients: ['+255712345671'] } });
    const client = wsClient(gateway.wsUrl, apiKey);
    // Watching one message that will not change: its subscription waits with nothing to yield.
    const subscription = new Collector(client, DeliveryUpdated, { messageId: quiet.sendSms.message.id });
    await gateway.subscribersLive(accountId);
    expect(gateway.app.services.feeds.liveSubscribers).toBe(1);

    const ended = once(gateway.app.services.feeds, 'ended');
    subscription.dispose();
    await ended;
    expect(gateway.app.services.feeds.liveSubscribers).toBe(0);
    await client.dispose();
  });
});

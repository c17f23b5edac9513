import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordTransitions } from '../../src/deliveries/transitions.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

describe('a publish that never arrives', () => {
  let watched: TestGateway;
  let elsewhere: TestGateway;

  beforeAll(async () => {
    watched = await startGateway({ DISPATCHER: 'off', LIVE_FEED_AUDIT_MS: '200' });
    // Same database, but its publishes go where nobody listens: to the watched gateway they are lost.
    elsewhere = await startGateway({ DISPATCHER: 'off', REDIS_PREFIX: `nowhere-${randomUUID()}` }, watched.databaseUrl);
  });
  afterAll(async () => {
    await elsewhere.stop();
    await watched.stop();
  });

  it('still reaches a live subscriber, read from the event log, without it reconnecting', async () => {
    const { apiKey, accountId } = await watched.account();
    const sent = await gqlData(watched.graphqlUrl, apiKey, SendSms, { input: { message: 'lost', recipients: ['+255712345671'] } });
    const rowId = Buffer.from(sent.sendSms.message.deliveries[0]!.id, 'base64').toString().split(':')[1]!;
    const updates = new Collector(wsClient(watched.wsUrl, apiKey), DeliveryUpdated);
    await watched.subscribersLive(accountId);

    await recordTransitions(elsewhere.app.services, [{ deliveryId: rowId, status: 'SENT', provider: 'sandbox', providerMessageId: 'p' }]);
    await updates.until((items) => items.length === 1, 'the update published where nobody listens', 10_000);
    updates.dispose();
    expect(updates.items[0]!.deliveryUpdated.delivery.status).toBe('SENT');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementsSent } from '../../src/db/client.ts';
import { recordTransitions } from '../../src/deliveries/transitions.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const SUBSCRIBERS = 60;

describe('one update, many subscribers', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    // No dispatcher and no periodic checks (feed audit, key revocation): nothing but the fan-out
    // may touch the database while it is measured.
    gateway = await startGateway({
      DISPATCHER: 'off',
      WS_MAX_CONNECTIONS_PER_KEY: '100',
      LIVE_FEED_AUDIT_MS: '600000',
      KEY_REVOCATION_CHECK_MS: '600000',
    });
  });
  afterAll(() => gateway.stop());

  it('reaches every subscriber with the delivery and its message, without a query per subscriber', async () => {
    const { apiKey, accountId } = await gateway.account();
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'fan out', recipients: ['+255712345671'] } });
    const deliveryId = sent.sendSms.message.deliveries[0]!.id;
    const rowId = Buffer.from(deliveryId, 'base64').toString().split(':')[1]!;

    // Several connections, each with several subscriptions, all asking for the nested message.
    const clients = Array.from({ length: 6 }, () => wsClient(gateway.wsUrl, apiKey));
    const subscribers = Array.from({ length: SUBSCRIBERS }, (_, i) => new Collector(clients[i % clients.length]!, DeliveryUpdated));
    await gateway.subscribersLive(accountId, SUBSCRIBERS);

    await recordTransitions(gateway.app.services, [{ deliveryId: rowId, status: 'SENT', provider: 'sandbox', providerMessageId: 'x' }]);
    // Everything from here on is fan-out: publish, Redis, each subscriber's execution.
    const before = statementsSent(gateway.app.services.db);
    await Promise.all(subscribers.map((s) => s.until((items) => items.length === 1, 'the update')));
    expect(statementsSent(gateway.app.services.db) - before).toBe(0);

    for (const subscriber of subscribers) {
      expect(subscriber.items[0]!.deliveryUpdated).toMatchObject({
        messageId: sent.sendSms.message.id,
        messageStatus: 'SENT',
        delivery: { id: deliveryId, status: 'SENT', message: { id: sent.sendSms.message.id, status: 'SENT' } },
      });
      subscriber.dispose();
    }
    await Promise.all(clients.map((c) => c.dispose()));
  });
});

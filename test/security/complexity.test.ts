import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, gql, gqlData, wsClient } from '../support/client.ts';
import {
  DeliveryUpdated,
  HundredReportsWithMessageDeliveries,
  MessageWithEveryDeliveryField,
  ReportsWithMessageDeliveries,
  SendSms,
  UpdatesWithMessageDeliveries,
} from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const recipients = (n: number) => Array.from({ length: n }, (_, i) => `+2557${String(10_000_000 + i)}`);

// A message can have 10,000 deliveries; nested in a page of reports, each row of the page would
// carry all of them again (before this limit: 115 MB and 15 s of one event loop for one request).
describe('what one operation may ask for', () => {
  let gateway: TestGateway;
  let apiKey: string;
  let accountId: string;
  let messageId: string;

  beforeAll(async () => {
    gateway = await startGateway({ DISPATCHER: 'off' });
    ({ apiKey, accountId } = await gateway.account({ credit: '1000' }));
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'Campaign', recipients: recipients(10_000) } });
    messageId = sent.sendSms.message.id;
  });
  afterAll(() => gateway?.stop());

  it("refuses a page of reports that repeats a large message's deliveries on every row, whether first is written out or a variable", async () => {
    for (const refused of [
      await gql(gateway.graphqlUrl, apiKey, ReportsWithMessageDeliveries, { first: 100 }),
      await gql(gateway.graphqlUrl, apiKey, HundredReportsWithMessageDeliveries),
      // Counted once for the document, and still refused the second time.
      await gql(gateway.graphqlUrl, apiKey, HundredReportsWithMessageDeliveries),
    ]) {
      expect(refused.data ?? null).toBeNull();
      expect(refused.errors).toHaveLength(1);
      expect(refused.errors![0]!.extensions?.code).toBe('BAD_USER_INPUT');
      expect(refused.errors![0]!.message).toMatch(/more than 300,000 in one answer/);
    }
    // The same document with a page of one is what it says: one row, all of its message's deliveries.
    const one = await gqlData(gateway.graphqlUrl, apiKey, ReportsWithMessageDeliveries, { first: 1 });
    expect(one.deliveryReports.edges).toHaveLength(1);
    expect(one.deliveryReports.edges[0]!.node.message.deliveries).toHaveLength(10_000);
  });

  it('answers every field of every delivery of the largest message, with their attempts', async () => {
    const { message } = await gqlData(gateway.graphqlUrl, apiKey, MessageWithEveryDeliveryField, { id: messageId });
    expect(message?.deliveries).toHaveLength(10_000);
    expect(new Set(message!.deliveries.map((d) => d.recipient)).size).toBe(10_000);
  });

  it("refuses a subscription whose every update would carry its message's deliveries, and serves a plain one", async () => {
    const client = wsClient(gateway.wsUrl, apiKey);
    try {
      const refused = new Collector(client, UpdatesWithMessageDeliveries);
      await expect(refused.until(() => false, 'the refusal')).rejects.toThrow(/more than 1,000 per update/);
      expect(JSON.stringify(refused.errors)).toContain('BAD_USER_INPUT');
      const plain = new Collector(client, DeliveryUpdated, {});
      await gateway.subscribersLive(accountId);
      await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'One more', recipients: ['+255712345671'] } });
      await plain.until((items) => items.length > 0, 'an update');
      plain.dispose();
    } finally {
      await client.dispose();
    }
  });
});

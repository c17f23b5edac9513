import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Decimal } from '../../src/messages/money.ts';
import { Collector, gql, gqlData, wsClient } from '../support/client.ts';
import { Balance, DeliveryReports, DeliveryUpdated, MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const DELIVERED_A = '+255712345671';
const FAILS = '+255712345678';
const DELIVERED_B = '0712345672';

describe('one message end to end through the sandbox', () => {
  let gateway: TestGateway;
  let key: string;
  let accountId: string;

  beforeAll(async () => {
    gateway = await startGateway();
    ({ apiKey: key, accountId } = await gateway.account({ credit: '10' }));
  });
  afterAll(() => gateway.stop());

  it('streams QUEUED, SENT and the final status of each recipient, in order, and bills exactly', async () => {
    const before = await gqlData(gateway.graphqlUrl, key, Balance);
    const client = wsClient(gateway.wsUrl, key);
    const updates = new Collector(client, DeliveryUpdated);
    await gateway.subscribersLive(accountId);

    const sent = await gqlData(gateway.graphqlUrl, key, SendSms, {
      input: { message: 'Your code is 4242', recipients: [DELIVERED_A, FAILS, DELIVERED_B] },
    });
    const message = sent.sendSms.message;
    expect(message.recipientCount).toBe(3);
    expect(message.encoding).toBe('GSM7');
    expect(message.segments).toBe(1);
    expect(message.cost).toBe('0.06'); // 3 recipients x 1 segment x 0.02 USD (TZ)
    expect(sent.sendSms.rejectedRecipients).toEqual([]);

    const final = (items: typeof updates.items) =>
      items.filter((u) => ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'].includes(u.deliveryUpdated.delivery.status)).length === 3;
    await updates.until(final, 'three final statuses');
    updates.dispose();
    await client.dispose();

    const byRecipient = new Map<string, string[]>();
    for (const { deliveryUpdated: u } of updates.items) {
      expect(u.messageId).toBe(message.id);
      byRecipient.set(u.delivery.recipient, [...(byRecipient.get(u.delivery.recipient) ?? []), u.delivery.status]);
    }
    expect(Object.fromEntries(byRecipient)).toEqual({
      [DELIVERED_A]: ['QUEUED', 'SENT', 'DELIVERED'],
      [FAILS]: ['QUEUED', 'SENT', 'FAILED'],
      '+255712345672': ['QUEUED', 'SENT', 'DELIVERED'],
    });
    const cursors = updates.items.map((u) => u.deliveryUpdated.cursor);
    expect(new Set(cursors).size).toBe(cursors.length);
    expect(updates.items.at(-1)!.deliveryUpdated.messageStatus).toBe('PARTIALLY_DELIVERED');

    const read = await gqlData(gateway.graphqlUrl, key, MessageById, { id: message.id });
    expect(read.message!.status).toBe('PARTIALLY_DELIVERED');
    const states = Object.fromEntries(read.message!.deliveries.map((d) => [d.recipient, [d.status, d.errorCode, d.provider]]));
    expect(states).toEqual({
      [DELIVERED_A]: ['DELIVERED', null, 'sandbox'],
      [FAILS]: ['FAILED', 'SANDBOX_UNDELIVERABLE', 'sandbox'],
      '+255712345672': ['DELIVERED', null, 'sandbox'],
    });
    for (const delivery of read.message!.deliveries) {
      expect(delivery.attempts).toEqual([{ provider: 'sandbox', outcome: 'SUBMITTED', errorCode: null }]);
      expect(delivery.sentAt).toBeTruthy();
    }

    const after = await gqlData(gateway.graphqlUrl, key, Balance);
    expect(new Decimal(before.balance.amount).minus(after.balance.amount).toString()).toBe(message.cost);
  });

  it('filters delivery reports by status and date and pages with cursors', async () => {
    const sent = await gqlData(gateway.graphqlUrl, key, SendSms, {
      input: { message: 'Second', recipients: ['+255712345681', '+255712345682', '+255712345683'] },
    });
    const queued = await gqlData(gateway.graphqlUrl, key, DeliveryReports, { filter: { status: "QUEUED" } });
    // Whatever has been dispatched meanwhile, the filter only ever returns what it asked for.
    expect(queued.deliveryReports.edges.every((e) => e.node.status === 'QUEUED')).toBe(true);

    const ofMessage = { messageId: sent.sendSms.message.id };
    const first = await gqlData(gateway.graphqlUrl, key, DeliveryReports, { filter: ofMessage, first: 2 });
    expect(first.deliveryReports.totalCount).toBe(3);
    expect(first.deliveryReports.edges).toHaveLength(2);
    expect(first.deliveryReports.pageInfo.hasNextPage).toBe(true);
    const second = await gqlData(gateway.graphqlUrl, key, DeliveryReports, {
      filter: ofMessage,
      first: 2,
      after: first.deliveryReports.pageInfo.endCursor,
    });
    expect(second.deliveryReports.edges).toHaveLength(1);
    expect(second.deliveryReports.pageInfo.hasNextPage).toBe(false);
    const seen = [...first.deliveryReports.edges, ...second.deliveryReports.edges].map((e) => e.node.recipient).sort();
    expect(seen).toEqual(['+255712345681', '+255712345682', '+255712345683']);

    const all = await gqlData(gateway.graphqlUrl, key, DeliveryReports, {});
    expect(all.deliveryReports.totalCount).toBe(6);
    const createdAt = all.deliveryReports.edges.map((e) => e.node.createdAt);
    expect([...createdAt].sort().reverse()).toEqual(createdAt);

    const oldest = all.deliveryReports.edges.at(-1)!.node.createdAt;
    const sinceSecond = await gqlData(gateway.graphqlUrl, key, DeliveryReports, {
      filter: { startDate: new Date(new Date(oldest).getTime() + 1).toISOString() },
    });
    expect(sinceSecond.deliveryReports.edges.every((e) => e.node.createdAt > oldest)).toBe(true);
    const future = await gqlData(gateway.graphqlUrl, key, DeliveryReports, {
      filter: { startDate: new Date(Date.now() + 3600_000).toISOString() },
    });
    expect(future.deliveryReports.totalCount).toBe(0);
    const beforeAll = await gqlData(gateway.graphqlUrl, key, DeliveryReports, { filter: { endDate: oldest } });
    expect(beforeAll.deliveryReports.totalCount).toBe(0);

    const failedOnly = await gqlData(gateway.graphqlUrl, key, DeliveryReports, { filter: { status: 'FAILED' } });
    expect(failedOnly.deliveryReports.edges.map((e) => e.node.recipient)).toEqual([FAILS]);
    const byRecipient = await gqlData(gateway.graphqlUrl, key, DeliveryReports, { filter: { recipient: '0712345678' } });
    expect(byRecipient.deliveryReports.edges.map((e) => e.node.status)).toEqual(['FAILED']);

    const tooMany = await gql(gateway.graphqlUrl, key, DeliveryReports, { first: 101 });
    expect(tooMany.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const forged = await gql(gateway.graphqlUrl, key, DeliveryReports, { after: 'bm90IGEgY3Vyc29y' });
    expect(forged.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, gql, gqlData, wsClient } from '../support/client.ts';
import { DeliveryReports, DeliveryUpdated, MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const FINAL = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];

describe('one account never sees another', () => {
  let gateway: TestGateway;
  let alice: { apiKey: string; accountId: string };
  let bob: { apiKey: string; accountId: string };
  let aliceMessage: string;
  let aliceCursor: string;

  beforeAll(async () => {
    gateway = await startGateway();
    alice = await gateway.account();
    bob = await gateway.account();
    const updates = new Collector(wsClient(gateway.wsUrl, alice.apiKey), DeliveryUpdated);
    await gateway.subscribersLive(alice.accountId);
    const sent = await gqlData(gateway.graphqlUrl, alice.apiKey, SendSms, {
      input: { message: 'alice private text', recipients: ['+255712345671'], reference: 'alice-ref' },
    });
    aliceMessage = sent.sendSms.message.id;
    await updates.until((items) => items.some((u) => FINAL.includes(u.deliveryUpdated.delivery.status)));
    updates.dispose();
    aliceCursor = updates.items[0]!.deliveryUpdated.cursor;
  });
  afterAll(() => gateway.stop());

  it("reads another account's message as not found", async () => {
    const result = await gql(gateway.graphqlUrl, bob.apiKey, MessageById, { id: aliceMessage });
    expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['MESSAGE_NOT_FOUND']);
    expect(JSON.stringify(result)).not.toContain('alice');
  });

  it("shows nothing of another account's deliveries, whatever the filter", async () => {
    for (const filter of [{ messageId: aliceMessage }, { recipient: '+255712345671' }, {}]) {
      const reports = await gqlData(gateway.graphqlUrl, bob.apiKey, DeliveryReports, { filter });
      expect(reports.deliveryReports.totalCount).toBe(0);
    }
    // A cursor of Alice's list moves Bob within his own, empty, list.
    const aliceList = await gqlData(gateway.graphqlUrl, alice.apiKey, DeliveryReports, {});
    const cursor = aliceList.deliveryReports.edges[0]!.cursor;
    const paged = await gqlData(gateway.graphqlUrl, bob.apiKey, DeliveryReports, { after: cursor });
    expect(paged.deliveryReports.edges).toEqual([]);
  });

  it("refuses a subscription to another account's message", async () => {
    const sub = new Collector(wsClient(gateway.wsUrl, bob.apiKey), DeliveryUpdated, { messageId: aliceMessage });
    await expect(sub.until(() => false)).rejects.toThrow(/MESSAGE_NOT_FOUND/);
    sub.dispose();
  });

  it("replays nothing of another account from its cursor", async () => {
    // Bob has sent nothing: replaying from Alice's first cursor yields nothing of hers, then
    // his own first update once he sends.
    const sub = new Collector(wsClient(gateway.wsUrl, bob.apiKey), DeliveryUpdated, { after: aliceCursor });
    await gateway.subscribersLive(bob.accountId);
    const mine = await gqlData(gateway.graphqlUrl, bob.apiKey, SendSms, { input: { message: 'bob', recipients: ['+255712345672'] } });
    await sub.until((items) => items.length > 0);
    sub.dispose();
    expect(new Set(sub.items.map((u) => u.deliveryUpdated.messageId))).toEqual(new Set([mine.sendSms.message.id]));
  });

  it('keeps references per account', async () => {
    const theirs = await gqlData(gateway.graphqlUrl, bob.apiKey, SendSms, {
      input: { message: 'bob with the same reference', recipients: ['+255712345673'], reference: 'alice-ref' },
    });
    expect(theirs.sendSms.message.id).not.toBe(aliceMessage);
  });

  it('keeps callbacks of one provider away from deliveries of another', async () => {
    // A sandbox delivery cannot be reached through another provider's callback route.
    const delivery = await gateway.app.services.db.delivery.findFirstOrThrow({ where: { accountId: alice.accountId } });
    const response = await fetch(`${gateway.url}/callbacks/mifumo?token=${gateway.app.services.callbacks.secret}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'message.failed', message_id: delivery.providerMessageId, recipient: delivery.recipient }),
    });
    expect(response.status).toBe(404); // Mifumo is not enabled here; when it is, the provider must match too.
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, gql, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import type { DeliveryUpdatedSubscription } from '../generated/graphql.ts';

type Update = DeliveryUpdatedSubscription;
const isFinal = (status: string) => ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'].includes(status);
const finals = (items: Update[]) => items.filter((u) => isFinal(u.deliveryUpdated.delivery.status)).length;

describe('resuming a subscription from its cursor', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ SANDBOX_DELIVERY_DELAY_MS: '100' });
  });
  afterAll(() => gateway.stop());

  it('replays what was missed, in order, with no duplicate, then goes live', async () => {
    const { apiKey, accountId } = await gateway.account();
    const recipients = ['+255712345671', '+255712345672', '+255712345678', '+255712345679'];

    const first = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
    await gateway.subscribersLive(accountId);
    await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'one', recipients } });
    // Disconnect as soon as the first update arrives: the rest happen while nobody listens.
    await first.until((items) => items.length >= 1, 'a first update');
    first.dispose();
    const seen = [...first.items];
    const lastCursor = seen.at(-1)!.deliveryUpdated.cursor;

    // Everything of the first message ends while disconnected; a second message starts.
    const watcher = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
    await gateway.subscribersLive(accountId);
    await watcher.until((items) => finals(items) === recipients.length, 'the first message to end');
    watcher.dispose();

    const resumed = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated, { after: lastCursor });
    await resumed.until((items) => finals([...seen, ...items]) >= recipients.length, 'the replay');
    await gateway.subscribersLive(accountId);
    const second = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'two', recipients: ['+255712345673'] } });
    await resumed.until((items) => finals([...seen, ...items]) === recipients.length + 1, 'the live update of the second message');
    resumed.dispose();

    const all = [...seen, ...resumed.items].map((u) => u.deliveryUpdated);
    const cursors = all.map((u) => u.cursor);
    expect(new Set(cursors).size).toBe(cursors.length);
    // 3 updates per delivery (QUEUED, SENT, final), nothing missing, nothing twice.
    const perDelivery = new Map<string, string[]>();
    for (const u of all) perDelivery.set(u.delivery.id, [...(perDelivery.get(u.delivery.id) ?? []), u.delivery.status]);
    expect(perDelivery.size).toBe(5);
    for (const statuses of perDelivery.values()) {
      expect(statuses.slice(0, 2)).toEqual(['QUEUED', 'SENT']);
      expect(statuses).toHaveLength(3);
    }
    expect(second.sendSms.message.deliveries).toHaveLength(1);
  });

  it('replays only the given message when asked for one', async () => {
    const { apiKey } = await gateway.account();
    const a = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'a', recipients: ['+255712345671'] } });
    await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'b', recipients: ['+255712345672'] } });
    const start = Buffer.from('evt:0').toString('base64url');
    const only = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated, {
      messageId: a.sendSms.message.id,
      after: start,
    });
    await only.until((items) => finals(items) === 1, 'message a to end');
    only.dispose();
    expect(new Set(only.items.map((u) => u.deliveryUpdated.messageId))).toEqual(new Set([a.sendSms.message.id]));
    expect(only.items.map((u) => u.deliveryUpdated.delivery.status).slice(0, 2)).toEqual(['QUEUED', 'SENT']);
  });

  it('refuses a forged cursor and a foreign message', async () => {
    const { apiKey } = await gateway.account();
    const other = await gateway.account();
    const theirs = await gqlData(gateway.graphqlUrl, other.apiKey, SendSms, { input: { message: 'x', recipients: ['+255712345671'] } });
    for (const variables of [{ after: 'bm9wZQ' }, { messageId: theirs.sendSms.message.id }]) {
      const sub = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated, variables);
      await expect(sub.until(() => false)).rejects.toThrow(/BAD_USER_INPUT|MESSAGE_NOT_FOUND/);
      sub.dispose();
    }
    // Over HTTP the same checks apply.
    const http = await gql(gateway.graphqlUrl, apiKey, DeliveryUpdated, { messageId: theirs.sendSms.message.id });
    expect(http.data ?? null).toBeNull();
  });
});

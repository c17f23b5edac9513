import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { CreateWebhookEndpoint, DeliveryUpdated, SendSms, WebhookEndpoints } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { verified, WebhookReceiver } from '../support/webhook-receiver.ts';

const FINAL = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];

describe('delivery webhooks', () => {
  let gateway: TestGateway;
  const receiver = new WebhookReceiver();

  beforeAll(async () => {
    await receiver.start();
    gateway = await startGateway({ WEBHOOK_ALLOW_PRIVATE_URLS: '1', WEBHOOK_RETRY_BASE_MS: '200' });
  });
  afterAll(async () => {
    await gateway.stop();
    await receiver.stop();
  });

  async function endpointFor(apiKey: string, path: string) {
    const { createWebhookEndpoint } = await gqlData(gateway.graphqlUrl, apiKey, CreateWebhookEndpoint, { input: { url: `${receiver.url}${path}` } });
    return createWebhookEndpoint;
  }

  it("sends every status change of a message, signed, with the subscription's cursor as webhook-id, and nothing of another account", async () => {
    const a = await gateway.account({ test: true });
    const b = await gateway.account({ test: true });
    const hookA = await endpointFor(a.apiKey, '/a');
    const hookB = await endpointFor(b.apiKey, '/b');
    expect(hookA.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(hookA.endpoint).toMatchObject({ url: `${receiver.url}/a`, enabled: true });

    const client = wsClient(gateway.wsUrl, a.apiKey);
    const updates = new Collector(client, DeliveryUpdated);
    await gateway.subscribersLive(a.accountId);
    // Sandbox fates by last digit: delivered, failed, expired.
    const sent = await gqlData(gateway.graphqlUrl, a.apiKey, SendSms, {
      input: { message: 'hooks', recipients: ['+255712345671', '+255712345678', '+255712345679'] },
    });
    const other = await gqlData(gateway.graphqlUrl, b.apiKey, SendSms, { input: { message: 'not yours', recipients: ['+255712345672'] } });
    const messageId = sent.sendSms.message.id;
    const otherId = other.sendSms.message.id;

    // Three recipients: QUEUED, SENT and a final status each.
    const isDone = (statuses: Array<{ status: string }>) => statuses.filter((s) => FINAL.includes(s.status)).length === 3;
    const seen = await updates.until((items) => isDone(items.filter((u) => u.deliveryUpdated.messageId === messageId).map((u) => u.deliveryUpdated.delivery)), 'all updates');
    const changes = seen.map((u) => u.deliveryUpdated).filter((u) => u.messageId === messageId);
    expect(changes).toHaveLength(9);
    const toA = (await receiver.until((r) => r.filter((x) => x.path === '/a').length >= 9, 'nine webhooks to A')).filter((r) => r.path === '/a');
    await receiver.until((r) => r.some((x) => x.path === '/b' && verified(hookB.secret, x).body.data.delivery.status === 'DELIVERED'), "B's own webhooks");

    const hooks = toA.map((request) => verified(hookA.secret, request));
    expect(hooks.map((h) => h.id).sort()).toEqual(changes.map((c) => c.cursor).sort());
    for (const change of changes) {
      const hook = hooks.find((h) => h.id === change.cursor)!;
      expect(hook.body.type).toBe('delivery.updated');
      expect(hook.body.data).toMatchObject({
        cursor: change.cursor,
        messageId,
        messageStatus: change.messageStatus,
        delivery: { id: change.delivery.id, recipient: change.delivery.recipient, status: change.delivery.status },
      });
    }
    expect(new Set(hooks.map((h) => h.body.data.delivery.status))).toEqual(new Set(['QUEUED', 'SENT', 'DELIVERED', 'FAILED', 'EXPIRED']));
    // Nothing of B's reaches A's endpoint, and a request to A does not verify with B's secret.
    expect(hooks.some((h) => h.body.data.messageId === otherId)).toBe(false);
    expect(() => verified(hookB.secret, toA[0]!)).toThrow();
    client.dispose();
  });

  it('retries an endpoint that answers 500 twice, then 200, and lists each attempt', async () => {
    const account = await gateway.account({ test: true });
    const hook = await endpointFor(account.apiKey, '/flaky');
    const tries = new Map<string, number>();
    receiver.answer = (request) => {
      if (request.path !== '/flaky') return 200;
      const id = String(request.headers['webhook-id']);
      const n = (tries.get(id) ?? 0) + 1;
      tries.set(id, n);
      return n <= 2 ? 500 : 200;
    };
    await gqlData(gateway.graphqlUrl, account.apiKey, SendSms, { input: { message: 'flaky', recipients: ['+255712345671'] } });
    // QUEUED, SENT, DELIVERED: each answered 500, 500, then 200.
    const received = await receiver.until(
      (r) => {
        const ids = new Set(r.filter((x) => x.path === '/flaky').map((x) => String(x.headers['webhook-id'])));
        return ids.size === 3 && [...ids].every((id) => (tries.get(id) ?? 0) >= 3);
      },
      'three tries of each of three events',
    );
    const flaky = received.filter((r) => r.path === '/flaky').map((r) => verified(hook.secret, r));
    expect(new Set(flaky.map((h) => h.body.data.delivery.status))).toEqual(new Set(['QUEUED', 'SENT', 'DELIVERED']));
    // Every try of an event carries the same id and the same body.
    for (const id of tries.keys()) expect(new Set(flaky.filter((h) => h.id === id).map((h) => JSON.stringify(h.body))).size).toBe(1);

    const listed = async () => {
      const { webhookEndpoints } = await gqlData(gateway.graphqlUrl, account.apiKey, WebhookEndpoints, { first: 50 });
      return webhookEndpoints[0]!.deliveries.edges.map((e) => e.node);
    };
    let attempts = await listed();
    const deadline = Date.now() + 10_000;
    while (attempts.filter((a) => a.outcome === 'success').length < 3 && Date.now() < deadline) attempts = await listed();
    expect(attempts).toHaveLength(9);
    for (const id of tries.keys()) {
      const ofEvent = attempts.filter((a) => a.cursor === id).sort((x, y) => x.attempt - y.attempt);
      expect(ofEvent.map((a) => [a.attempt, a.outcome, a.statusCode])).toEqual([
        [1, 'http_error', 500],
        [2, 'http_error', 500],
        [3, 'success', 200],
      ]);
      expect(ofEvent[0]!.responseExcerpt).toBe('not now');
      expect(ofEvent.every((a) => a.durationMs >= 0)).toBe(true);
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, gql, gqlData, wsClient } from '../support/client.ts';
import { encodeCursor } from '../../src/deliveries/event-log.ts';
import {
  CreateWebhookEndpoint,
  DeleteWebhookEndpoint,
  DeliveryUpdated,
  MessageById,
  ReplayWebhooks,
  SendSms,
  WebhookEndpoints,
} from '../support/documents.ts';
import { eventually } from '../support/process.ts';
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

  async function attemptsOf(apiKey: string, until: (attempts: Array<{ outcome: string; statusCode?: number | null }>) => boolean) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { webhookEndpoints } = await gqlData(gateway.graphqlUrl, apiKey, WebhookEndpoints, { first: 100 });
      const attempts = webhookEndpoints[0]!.deliveries.edges.map((e) => e.node);
      if (until(attempts) || Date.now() > deadline) return { endpoint: webhookEndpoints[0]!, attempts };
    }
  }

  it('follows no redirect, and a 410 Gone disables the endpoint until replayWebhooks sends the log again', async () => {
    const account = await gateway.account({ test: true });
    const hook = await endpointFor(account.apiKey, '/moved');
    let gone = false;
    receiver.answer = (request) => (request.path !== '/moved' ? 200 : gone ? 410 : 302);
    await gqlData(gateway.graphqlUrl, account.apiKey, SendSms, { input: { message: 'moved', recipients: ['+255712345671'] } });
    const redirected = await attemptsOf(account.apiKey, (a) => a.some((x) => x.statusCode === 302));
    expect(redirected.attempts[0]).toMatchObject({ outcome: 'http_error', statusCode: 302 });
    expect(receiver.received.some((r) => r.path === '/redirected')).toBe(false);

    gone = true;
    await attemptsOf(account.apiKey, (a) => a.some((x) => x.outcome === 'gone'));
    // Read again: the endpoint is read before its attempts in one query, and the 410 may have come between.
    const [endpoint] = (await gqlData(gateway.graphqlUrl, account.apiKey, WebhookEndpoints, {})).webhookEndpoints;
    expect(endpoint).toMatchObject({ enabled: false, disabledReason: 'the endpoint answered 410 Gone' });
    // Disabled: new events are not queued for it.
    const before = receiver.received.filter((r) => r.path === '/moved').length;
    const after = await gqlData(gateway.graphqlUrl, account.apiKey, SendSms, { input: { message: 'after 410', recipients: ['+255712345672'] } });
    await eventually(
      async () => (await gqlData(gateway.graphqlUrl, account.apiKey, MessageById, { id: after.sendSms.message.id })).message?.status === 'DELIVERED',
      'the second message delivered',
    );
    expect(receiver.received.filter((r) => r.path === '/moved').length).toBe(before);

    gone = false;
    receiver.answer = () => 200;
    // The account's events are numbered 1 to 6: three per message. Replay after the first.
    const { replayWebhooks } = await gqlData(gateway.graphqlUrl, account.apiKey, ReplayWebhooks, {
      endpointId: hook.endpoint.id,
      after: encodeCursor(1n),
    });
    expect(replayWebhooks).toEqual({ queued: 5, lastCursor: encodeCursor(6n) });
    const replayed = await receiver.until((r) => r.filter((x) => x.path === '/moved').length >= before + 5, 'the replay');
    const ids = replayed.filter((r) => r.path === '/moved').slice(before).map((r) => verified(hook.secret, r).id);
    expect(ids.sort()).toEqual([2n, 3n, 4n, 5n, 6n].map(encodeCursor).sort());
    const { webhookEndpoints } = await gqlData(gateway.graphqlUrl, account.apiKey, WebhookEndpoints, {});
    expect(webhookEndpoints[0]!.enabled).toBe(true);

    // Another account can neither see, replay nor delete it.
    const stranger = await gateway.account({ test: true });
    expect((await gqlData(gateway.graphqlUrl, stranger.apiKey, WebhookEndpoints, {})).webhookEndpoints).toEqual([]);
    for (const result of [
      await gql(gateway.graphqlUrl, stranger.apiKey, DeleteWebhookEndpoint, { id: hook.endpoint.id }),
      await gql(gateway.graphqlUrl, stranger.apiKey, ReplayWebhooks, { endpointId: hook.endpoint.id, after: encodeCursor(0n) }),
    ]) {
      expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }

    const { deleteWebhookEndpoint } = await gqlData(gateway.graphqlUrl, account.apiKey, DeleteWebhookEndpoint, { id: hook.endpoint.id });
    expect(deleteWebhookEndpoint.id).toBe(hook.endpoint.id);
    expect((await gqlData(gateway.graphqlUrl, account.apiKey, WebhookEndpoints, {})).webhookEndpoints).toEqual([]);
  });

  it('an endpoint that never answers does not hold back the others', async () => {
    const stuck = await gateway.account({ test: true });
    const quick = await gateway.account({ test: true });
    await endpointFor(stuck.apiKey, '/stuck');
    const hook = await endpointFor(quick.apiKey, '/quick');
    receiver.answer = (request) => (request.path === '/stuck' ? 'hang' : 200);
    const recipients = Array.from({ length: 20 }, (_, i) => `+255712345${String(i).padStart(2, '0')}1`);
    await gqlData(gateway.graphqlUrl, stuck.apiKey, SendSms, { input: { message: 'stuck', recipients } });
    await receiver.until((r) => r.filter((x) => x.path === '/stuck').length >= 4, 'the stuck endpoint to be called');
    const sentAt = Date.now();
    await gqlData(gateway.graphqlUrl, quick.apiKey, SendSms, { input: { message: 'quick', recipients: ['+255712345671'] } });
    const received = await receiver.until((r) => r.filter((x) => x.path === '/quick').length >= 3, "the quick endpoint's three events");
    // Well within the stuck endpoint's 10 s timeout; and it has at most its share in flight.
    expect(Math.max(...received.filter((x) => x.path === '/quick').map((x) => x.at)) - sentAt).toBeLessThan(5000);
    expect(received.filter((x) => x.path === '/stuck').length).toBe(4);
    expect(new Set(received.filter((x) => x.path === '/quick').map((x) => verified(hook.secret, x).body.data.delivery.status))).toEqual(
      new Set(['QUEUED', 'SENT', 'DELIVERED']),
    );
  });
});

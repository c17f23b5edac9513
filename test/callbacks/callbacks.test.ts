import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEarlyReports, ingestReports } from '../../src/callbacks/ingest.ts';
import { recordTransitions } from '../../src/deliveries/transitions.ts';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import { gqlData } from '../support/client.ts';
import { MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

describe('delivery-report callbacks', () => {
  let gateway: TestGateway;
  let key: string;

  beforeAll(async () => {
    // No dispatcher and no simulator: the test plays the provider.
    gateway = await startGateway({ DISPATCHER: 'off', MIFUMO_API_KEY: 'k', MIFUMO_BASE_URL: 'http://127.0.0.1:9' });
    ({ apiKey: key } = await gateway.account());
  });
  afterAll(() => gateway.stop());

  /** A message whose one delivery Mifumo accepted as `providerMessageId`. */
  async function sentThroughMifumo(providerMessageId: string, recipient = '+255712345671') {
    const sent = await gqlData(gateway.graphqlUrl, key, SendSms, { input: { message: 'hello', recipients: [recipient], provider: 'mifumo' } });
    const deliveryId = await gateway.app.services.db.delivery
      .findFirstOrThrow({ where: { recipient, message: { text: 'hello' } }, orderBy: { createdAt: 'desc' } })
      .then((d) => d.id);
    await recordTransitions(gateway.app.services, [{ deliveryId, status: 'SENT', provider: 'mifumo', providerMessageId }]);
    return { messageId: sent.sendSms.message.id, deliveryId };
  }

  const webhook = (messageId: string, event: string, extra: Record<string, unknown> = {}) => ({
    event,
    message_id: messageId,
    recipient: '+255712345671',
    status: event.split('.')[1],
    delivered_at: event === 'message.delivered' ? '2026-11-22T10:05:00Z' : null,
    error_message: event === 'message.failed' ? 'Handset unreachable' : null,
    timestamp: '2026-11-22T10:05:00Z',
    ...extra,
  });

  async function post(path: string, body: unknown, contentType = 'application/json') {
    const response = await fetch(`${gateway.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  const url = (token = gateway.app.services.callbacks.secret!) => `/callbacks/mifumo?token=${encodeURIComponent(token)}`;
  const events = (deliveryId: string) => gateway.app.services.db.deliveryEvent.count({ where: { deliveryId } });

  it('refuses a wrong or missing token with 401 and changes nothing', async () => {
    const { deliveryId } = await sentThroughMifumo('msg_token');
    const before = await events(deliveryId);
    expect((await post(url('wrong-secret'), webhook('msg_token', 'message.delivered'))).status).toBe(401);
    expect((await post('/callbacks/mifumo', webhook('msg_token', 'message.delivered'))).status).toBe(401);
    expect(await events(deliveryId)).toBe(before);
    const delivery = await gateway.app.services.db.delivery.findUniqueOrThrow({ where: { id: deliveryId } });
    expect(delivery.status).toBe('SENT');
  });

  it('records the same report twice as one event', async () => {
    const { deliveryId, messageId } = await sentThroughMifumo('msg_twice');
    const before = await events(deliveryId);
    expect((await post(url(), webhook('msg_twice', 'message.delivered'))).body).toMatchObject({ received: 1, applied: 1 });
    expect((await post(url(), webhook('msg_twice', 'message.delivered'))).body).toMatchObject({ received: 1, applied: 0 });
    expect(await events(deliveryId)).toBe(before + 1);
    const read = await gqlData(gateway.graphqlUrl, key, MessageById, { id: messageId });
    expect(read.message!.deliveries[0]).toMatchObject({ status: 'DELIVERED', deliveredAt: '2026-11-22T10:05:00.000Z' });
  });

  it('does not move a delivery back for a late SENT, nor from one final status to another', async () => {
    const { deliveryId } = await sentThroughMifumo('msg_late');
    await post(url(), webhook('msg_late', 'message.delivered'));
    const after = await events(deliveryId);
    expect((await post(url(), webhook('msg_late', 'message.sent'))).body).toMatchObject({ applied: 0 });
    expect((await post(url(), webhook('msg_late', 'message.failed'))).body).toMatchObject({ applied: 0 });
    expect(await events(deliveryId)).toBe(after);
    expect((await gateway.app.services.db.delivery.findUniqueOrThrow({ where: { id: deliveryId } })).status).toBe('DELIVERED');
  });

  it('keeps the provider payload on the event', async () => {
    const { deliveryId } = await sentThroughMifumo('msg_raw');
    const body = webhook('msg_raw', 'message.failed');
    await post(url(), body);
    const event = await gateway.app.services.db.deliveryEvent.findFirstOrThrow({ where: { deliveryId, status: 'FAILED' } });
    expect(event).toMatchObject({ errorCode: 'MIFUMO_FAILED', errorMessage: 'Handset unreachable', raw: body });
  });

  it.each([
    ['an empty body', '', 'application/json', 400],
    ['broken JSON', '{"event": ', 'application/json', 400],
    ['another shape', { hello: 'world' }, 'application/json', 400],
    ['an unknown event', { ...{ event: 'message.exploded', message_id: 'x', recipient: '+255712345671' } }, 'application/json', 400],
    ['a form body of the wrong shape', 'a=1&b=2', 'application/x-www-form-urlencoded', 400],
    ['a body over 64 KiB', { event: 'message.delivered', padding: 'x'.repeat(70_000) }, 'application/json', 413],
  ])('answers %s with a client error and changes nothing', async (_name, body, type, status) => {
    const before = await gateway.app.services.db.deliveryEvent.count();
    const response = await fetch(`${gateway.url}${url()}`, {
      method: 'POST',
      headers: { 'content-type': type },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    expect(response.status).toBe(status);
    expect(await gateway.app.services.db.deliveryEvent.count()).toBe(before);
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
  });

  it('answers 404 for a provider that does not exist or takes no callbacks, once the token is right', async () => {
    expect((await post(url().replace('mifumo', 'twilio'), {})).status).toBe(404);
    expect((await post(url().replace('mifumo', 'sandbox'), {})).status).toBe(404);
    // Without the token nothing is revealed, not even which providers exist.
    expect((await post('/callbacks/twilio?token=x', {})).status).toBe(401);
  });

  it('applies a report that came before its submission was recorded, once it is', async () => {
    const sent = await gqlData(gateway.graphqlUrl, key, SendSms, { input: { message: 'early bird', recipients: ['+255712345672'], provider: 'mifumo' } });
    const delivery = await gateway.app.services.db.delivery.findFirstOrThrow({ where: { message: { text: 'early bird' } } });
    const early = await ingestReports(gateway.app.services, 'mifumo', [
      { match: { providerMessageId: 'msg_early', recipient: '+255712345672' }, status: 'DELIVERED' },
    ]);
    expect(early).toEqual([{ received: 1, applied: 0, unmatched: 1 }]);
    await recordTransitions(gateway.app.services, [{ deliveryId: delivery.id, status: 'SENT', provider: 'mifumo', providerMessageId: 'msg_early' }]);
    expect(await applyEarlyReports(gateway.app.services, 'mifumo', { providerMessageIds: ['msg_early'], deliveryIds: [] })).toBe(1);
    const read = await gqlData(gateway.graphqlUrl, key, MessageById, { id: sent.sendSms.message.id });
    expect(read.message!.deliveries[0]!.status).toBe('DELIVERED');
    expect(await gateway.app.services.db.earlyReport.count()).toBe(0);
    expect(mifumo.name).toBe('mifumo');
  });
});

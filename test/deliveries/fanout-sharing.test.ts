import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOO_SLOW_CLOSE } from '../../src/graphql/websocket.ts';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const BARE = 'subscription Bare { deliveryUpdated { cursor delivery { status } } }';
const FINAL = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];

/** A graphql-transport-ws client on `ws` itself, so that the test can stop reading its socket. */
async function rawSubscriber(url: string, key: string, query: string) {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  const frames: string[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise((resolve) => socket.on('open', resolve));
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } }));
  await new Promise<void>((resolve) =>
    socket.once('message', () => {
      socket.on('message', (data) => frames.push(data.toString()));
      resolve();
    }),
  );
  socket.send(JSON.stringify({ id: 'slow-1', type: 'subscribe', payload: { query } }));
  return { socket, frames, closed };
}

describe('live updates shared between subscribers', () => {
  let gateway: TestGateway;
  let key: string;
  let accountId: string;

  beforeAll(async () => {
    gateway = await startGateway({ WS_MAX_BUFFERED_BYTES: '1024', WS_MAX_CONNECTIONS_PER_KEY: '50', SANDBOX_DELIVERY_DELAY_MS: '0' });
    ({ apiKey: key, accountId } = await gateway.account({ credit: '1000' }));
  });
  afterAll(() => gateway.stop());

  it('gives each selection its own result, each subscription its own id, and a message filter only its message', async () => {
    const client = wsClient(gateway.wsUrl, key);
    const full = new Collector(client, DeliveryUpdated);
    const bare = new Collector(client, { toString: () => BARE } as never) as Collector<{ deliveryUpdated: Record<string, unknown> }>;
    await gateway.subscribersLive(accountId, 2);
    const other = await gqlData(gateway.graphqlUrl, key, SendSms, { input: { message: 'Other', recipients: ['+255712345681'] } });
    const onlyOther = new Collector(client, DeliveryUpdated, { messageId: other.sendSms.message.id });
    await gateway.subscribersLive(accountId, 3);
    const sent = await gqlData(gateway.graphqlUrl, key, SendSms, { input: { message: 'Shared', recipients: ['+255712345671', '+255712345678'] } });

    const finalOf = (id: string) => (items: typeof full.items) =>
      items.filter((u) => u.deliveryUpdated.messageId === id && FINAL.includes(u.deliveryUpdated.delivery.status)).length === 2;
    await full.until(finalOf(sent.sendSms.message.id), 'both final in the full selection');
    await bare.until((items) => items.filter((u) => FINAL.includes((u.deliveryUpdated.delivery as { status: string }).status)).length >= 3, 'finals in the bare one');

    // The same changes, each in the shape its subscription asked for, nothing more.
    const cursors = new Set(full.items.map((u) => u.deliveryUpdated.cursor));
    for (const u of bare.items) {
      expect(Object.keys(u.deliveryUpdated).sort()).toEqual(['cursor', 'delivery']);
      expect(Object.keys(u.deliveryUpdated.delivery as object)).toEqual(['status']);
      expect(cursors.has(u.deliveryUpdated.cursor as string)).toBe(true);
    }
    const delivered = full.items.find((u) => u.deliveryUpdated.messageId === sent.sendSms.message.id && u.deliveryUpdated.delivery.status === 'DELIVERED');
    expect(delivered!.deliveryUpdated.delivery).toMatchObject({
      recipient: expect.stringMatching(/^\+2557123456/),
      provider: expect.anything(),
    });
    // The message filter holds on the shared path: the other message's changes only.
    await onlyOther.until((items) => items.some((u) => FINAL.includes(u.deliveryUpdated.delivery.status)), "the other message's final status");
    expect(onlyOther.items.every((u) => u.deliveryUpdated.messageId === other.sendSms.message.id)).toBe(true);
    for (const c of [full, bare, onlyOther]) c.dispose();
    await client.dispose();
  });

  it('drops a subscriber that stops reading, with a close code, and the others receive everything', async () => {
    // The text eight times over in each update (aliases): tens of megabytes in all.
    const texts = Array.from({ length: 8 }, (_, i) => `t${i}: text`).join(' ');
    const query = `subscription { deliveryUpdated { cursor delivery { status message { id ${texts} } } } }`;
    const slow = await rawSubscriber(gateway.wsUrl, key, query);
    const client = wsClient(gateway.wsUrl, key);
    const healthy = new Collector(client, DeliveryUpdated);
    await gateway.subscribersLive(accountId, 2);
    slow.socket.pause();

    // Long texts to many recipients: more than the peer's socket buffers take.
    const text = 'Your statement is ready. '.repeat(40).slice(0, 900);
    const recipients = Array.from({ length: 1000 }, (_, i) => `+255714${String(i * 10 + 1).padStart(6, '0')}`);
    const sent = await gqlData(gateway.graphqlUrl, key, SendSms, { input: { message: text, recipients } });
    await healthy.until(
      (items) => items.filter((u) => u.deliveryUpdated.messageId === sent.sendSms.message.id).length === 3 * recipients.length,
      'every update of the thousand recipients',
    );

    slow.socket.resume();
    const { code } = await slow.closed;
    expect(code).toBe(TOO_SLOW_CLOSE.code);
    // What it did receive is whole and in order, up to where it was dropped.
    const received = slow.frames.map((f) => JSON.parse(f) as { type: string; id: string });
    expect(received.every((m) => m.type === 'next' && m.id === 'slow-1')).toBe(true);
    expect(received.length).toBeLessThan(3 * recipients.length);
    healthy.dispose();
    await client.dispose();
  });
});

import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wsClient } from '../support/client.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

/** Opens a raw graphql-transport-ws socket, sends connection_init, and reports how it ends. */
function connect(url: string, payload: unknown): Promise<{ acked: boolean; code: number }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, 'graphql-transport-ws');
    let acked = false;
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', ...(payload ? { payload } : {}) })));
    socket.on('message', (data) => {
      if (JSON.parse(String(data)).type === 'connection_ack') {
        acked = true;
        socket.close(1000);
      }
    });
    socket.on('close', (code) => resolve({ acked, code }));
    socket.on('error', reject);
  });
}

describe('WebSocket authentication', () => {
  let gateway: TestGateway;
  let key: string;

  beforeAll(async () => {
    gateway = await startGateway();
    ({ apiKey: key } = await gateway.account());
  });
  afterAll(() => gateway.stop());

  it('closes with 4401 when connection_init carries no key', async () => {
    expect(await connect(gateway.wsUrl, undefined)).toEqual({ acked: false, code: 4401 });
    expect(await connect(gateway.wsUrl, { authorization: '' })).toEqual({ acked: false, code: 4401 });
  });

  it('closes with 4403 for a wrong or revoked key', async () => {
    expect(await connect(gateway.wsUrl, { authorization: 'Bearer sgw_live_AAAAAAAA_nope' })).toEqual({ acked: false, code: 4403 });
    expect(await connect(gateway.wsUrl, { authorization: `Bearer ${key}x` })).toEqual({ acked: false, code: 4403 });
  });

  it('acknowledges a valid key', async () => {
    expect(await connect(gateway.wsUrl, { authorization: `Bearer ${key}` })).toEqual({ acked: true, code: 1000 });
  });

  it('answers an operation over the cost limit with BAD_USER_INPUT and keeps the connection', async () => {
    const client = wsClient(gateway.wsUrl, key);
    const closed: number[] = [];
    client.on('closed', (event) => closed.push((event as { code: number }).code));
    const run = (query: string) =>
      new Promise<unknown>((resolve) => {
        client.subscribe({ query }, { next: resolve, error: resolve, complete: () => {} });
      });
    // Each row's message with all its deliveries: up to 100 × 10,000 of them.
    const costly = '{ deliveryReports(first: 100) { edges { node { message { deliveries { id } } } } } }';
    expect(await run(costly)).toEqual({ errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })] });
    // A full page of reports is an ordinary question.
    const page = '{ deliveryReports(first: 100) { edges { node { id recipient status provider errorCode errorMessage sentAt createdAt updatedAt message { id } } } } }';
    expect(await run(page)).toEqual({ data: { deliveryReports: { edges: [] } } });
    expect(await run('{ balance { currency } }')).toEqual({ data: { balance: { currency: 'USD' } } });
    expect(closed).toEqual([]);
    await client.dispose();
  });
});

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeApiKey } from '../../src/accounts/accounts.ts';
import { gql } from '../support/client.ts';
import { createTestDatabase } from '../support/database.ts';
import { Balance, MessageById } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

/** A raw graphql-transport-ws connection, acknowledged. */
async function connect(url: string, key: string): Promise<WebSocket> {
  const socket = new WebSocket(url, 'graphql-transport-ws');
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } }));
  const [data] = (await once(socket, 'message')) as [Buffer];
  expect(JSON.parse(String(data)).type).toBe('connection_ack');
  return socket;
}

/** The id of a message of no one's: a request for it is answered MESSAGE_NOT_FOUND once admitted. */
function nobodysMessageId(): string {
  return Buffer.from(`Message:${randomUUID()}`).toString('base64');
}

function subscribe(socket: WebSocket, id: string) {
  socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: 'subscription { deliveryUpdated { cursor } }' } }));
}

describe('rate limits shared by two instances', () => {
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    const databaseUrl = await createTestDatabase();
    const env = { REDIS_PREFIX: `limits-${randomUUID()}`, RATE_LIMITS: JSON.stringify({ balance: 4, status: 300 }), DISPATCHER: 'off' };
    a = await startGateway(env, databaseUrl);
    b = await startGateway(env, databaseUrl);
  });
  afterAll(async () => {
    await a.stop();
    await b.stop();
  });

  it('counts one key across instances and says how long to wait', async () => {
    const { apiKey } = await a.account();
    const results = [];
    for (const gateway of [a, b, a, b, a, b]) results.push(await gql(gateway.graphqlUrl, apiKey, Balance));
    expect(results.map((r) => (r.data?.balance ? 'ok' : r.errors?.[0]?.extensions?.code))).toEqual([
      'ok',
      'ok',
      'ok',
      'ok',
      'RATE_LIMITED',
      'RATE_LIMITED',
    ]);
    const limited = results[4]!;
    expect(limited.status).toBe(429);
    const wait = limited.errors![0]!.extensions!.retryAfterSeconds as number;
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(60);
    // Another key has its own allowance.
    const other = await a.account();
    expect((await gql(b.graphqlUrl, other.apiKey, Balance)).data?.balance).toBeTruthy();
  });

  it('admits exactly the limit of a larger allowance, which each instance spends partly without asking Redis', async () => {
    const { apiKey } = await a.account();
    const outcomes: string[] = [];
    for (let i = 0; i < 320; i++) {
      const result = await gql(i % 2 === 0 ? a.graphqlUrl : b.graphqlUrl, apiKey, MessageById, { id: nobodysMessageId() });
      outcomes.push(String(result.errors?.[0]?.extensions?.code));
    }
    expect(outcomes.filter((o) => o === 'MESSAGE_NOT_FOUND')).toHaveLength(300);
    expect(outcomes.filter((o) => o !== 'MESSAGE_NOT_FOUND')).toEqual(Array(20).fill('RATE_LIMITED'));
    expect(outcomes.slice(0, 290).every((o) => o === 'MESSAGE_NOT_FOUND')).toBe(true);
  });

  it('admits exactly the limit to many requests of one key at once on one instance', async () => {
    const { apiKey } = await a.account();
    const outcomes: string[] = [];
    // 16 at a time: the instance asks Redis again while earlier answers are still on their way.
    for (let i = 0; i < 20; i++) {
      const batch = Array.from({ length: 16 }, () => gql(a.graphqlUrl, apiKey, MessageById, { id: nobodysMessageId() }));
      for (const result of await Promise.all(batch)) outcomes.push(String(result.errors?.[0]?.extensions?.code));
    }
    expect(outcomes.filter((o) => o === 'MESSAGE_NOT_FOUND')).toHaveLength(300);
    expect(outcomes.filter((o) => o !== 'MESSAGE_NOT_FOUND')).toEqual(Array(20).fill('RATE_LIMITED'));
  });
});

describe('WebSocket limits and revocation', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({
      KEY_REVOCATION_CHECK_MS: '200',
      WS_MAX_SUBSCRIPTIONS_PER_CONNECTION: '2',
      WS_MAX_CONNECTIONS_PER_KEY: '2',
      WS_CONNECTION_INIT_TIMEOUT_MS: '300',
    });
  });
  afterAll(() => gateway.stop());

  it('closes the open subscription of a revoked key within moments', async () => {
    const { apiKey, apiKeyId, accountId } = await gateway.account();
    const socket = await connect(gateway.wsUrl, apiKey);
    subscribe(socket, '1');
    await gateway.subscribersLive(accountId);
    const closed = once(socket, 'close') as Promise<[number, Buffer]>;
    await revokeApiKey(gateway.app.services.db, apiKeyId);
    const [code, reason] = await closed;
    expect(code).toBe(4403);
    expect(String(reason)).toBe('API key revoked');
  });

  it('caps subscriptions per connection', async () => {
    const { apiKey } = await gateway.account();
    const socket = await connect(gateway.wsUrl, apiKey);
    subscribe(socket, '1');
    subscribe(socket, '2');
    subscribe(socket, '3');
    const [data] = (await once(socket, 'message')) as [Buffer];
    const message = JSON.parse(String(data));
    expect(message).toMatchObject({ id: '3', type: 'error' });
    expect(message.payload[0].extensions.code).toBe('RATE_LIMITED');
    socket.close();
  });

  it('caps connections per key', async () => {
    const { apiKey } = await gateway.account();
    const first = await connect(gateway.wsUrl, apiKey);
    const second = await connect(gateway.wsUrl, apiKey);
    const third = new WebSocket(gateway.wsUrl, 'graphql-transport-ws');
    await once(third, 'open');
    third.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${apiKey}` } }));
    const [code] = (await once(third, 'close')) as [number];
    expect(code).toBe(1008);
    first.close();
    second.close();
  });

  it('closes a connection that never initialises', async () => {
    const socket = new WebSocket(gateway.wsUrl, 'graphql-transport-ws');
    const [code] = (await once(socket, 'close')) as [number];
    expect(code).toBe(4408);
  });
});

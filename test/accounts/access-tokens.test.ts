import { once } from 'node:events';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyCacheOf } from '../../src/accounts/key-cache.ts';
import { statementsSent } from '../../src/db/client.ts';
import { TOKEN_EXPIRED_CLOSE } from '../../src/graphql/websocket.ts';
import { ApiKeys, CreateAccessToken, MyAccount, RevokeApiKey } from '../support/account-documents.ts';
import { Collector, gql, gqlData, wsClient } from '../support/client.ts';
import { Balance, DeliveryReports, DeliveryUpdated, MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openSession } from '../support/ws-session.ts';

const NOOP = { toString: () => '{ __typename }' } as never;
const FINAL = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];

describe('access tokens', () => {
  let gateway: TestGateway;
  let account: { apiKey: string; accountId: string };
  /** A position in the account's event log before the messages of the later tests. */
  let earlierCursor: string;

  const mint = async (apiKey: string, input: { scopes: string[]; ttlSeconds: number; messageId?: string }) =>
    (await gqlData(gateway.graphqlUrl, apiKey, CreateAccessToken, { input })).createAccessToken;

  beforeAll(async () => {
    gateway = await startGateway();
    account = await gateway.account();
  });
  afterAll(() => gateway.stop());

  it('work as their key would, within their scopes, at most an hour, and cost no query once the key is known', async () => {
    const made = await mint(account.apiKey, { scopes: ['read'], ttlSeconds: 3600 });
    expect(made.scopes).toEqual(['read']);
    const lifetime = new Date(made.expiresAt).getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(3590_000);
    expect(lifetime).toBeLessThanOrEqual(3600_000);

    expect((await gqlData(gateway.graphqlUrl, made.token, Balance)).balance.accountId).toBe(account.accountId);
    // Counted on an instance with nothing else to do (no dispatcher), once it knows the key.
    const quiet = await startGateway({ DISPATCHER: 'off', KEY_REVOCATION_CHECK_MS: '600000' }, gateway.databaseUrl);
    try {
      const cache = keyCacheOf(quiet.app.services.db);
      if (!cache.isListening) await once(cache, 'listening');
      expect((await gql(quiet.graphqlUrl, made.token, NOOP)).status).toBe(200);
      const before = statementsSent(quiet.app.services.db);
      for (let i = 0; i < 20; i++) expect((await gql(quiet.graphqlUrl, made.token, NOOP)).status).toBe(200);
      expect(statementsSent(quiet.app.services.db) - before).toBe(0);
    } finally {
      await quiet.stop();
    }

    const send = await gql(gateway.graphqlUrl, made.token, SendSms, { input: { message: 'hi', recipients: ['+255712345671'] } });
    expect(send.errors?.[0]?.extensions?.code).toBe('INSUFFICIENT_PERMISSIONS');
    for (const document of [ApiKeys]) {
      expect((await gql(gateway.graphqlUrl, made.token, document, {})).errors?.[0]?.extensions?.code).toBe('INSUFFICIENT_PERMISSIONS');
    }
    // A token makes no tokens.
    const again = await gql(gateway.graphqlUrl, made.token, CreateAccessToken, { input: { scopes: ['read'], ttlSeconds: 60 } });
    expect(again.errors?.[0]?.extensions?.code).toBe('INSUFFICIENT_PERMISSIONS');

    // Over WebSocket, in connection_init, like a key.
    const updates = new Collector(wsClient(gateway.wsUrl, made.token), DeliveryUpdated);
    await gateway.subscribersLive(account.accountId);
    await gqlData(gateway.graphqlUrl, account.apiKey, SendSms, { input: { message: 'to the browser', recipients: ['+255712345671'] } });
    await updates.until((items) => items.some((u) => u.deliveryUpdated.delivery.status === 'DELIVERED'), 'DELIVERED');
    updates.dispose();
    earlierCursor = updates.items.at(-1)!.deliveryUpdated.cursor;
  });

  it('limited to one message, read that message and nothing else of the account', async () => {
    const url = gateway.graphqlUrl;
    const sent = await gqlData(url, account.apiKey, SendSms, { input: { message: 'the one', recipients: ['+255712345672'] } });
    const other = await gqlData(url, account.apiKey, SendSms, { input: { message: 'another', recipients: ['+255712345673'] } });
    const messageId = sent.sendSms.message.id;
    const { token } = await mint(account.apiKey, { scopes: ['read'], ttlSeconds: 600, messageId });

    expect((await gqlData(url, token, MessageById, { id: messageId })).message?.id).toBe(messageId);
    expect((await gql(url, token, MessageById, { id: other.sendSms.message.id })).errors?.[0]?.extensions?.code).toBe('MESSAGE_NOT_FOUND');
    const reports = await gqlData(url, token, DeliveryReports, {});
    expect(reports.deliveryReports.edges.map((e) => e.node.message.id)).toEqual([messageId]);
    const elsewhere = await gql(url, token, DeliveryReports, { filter: { messageId: other.sendSms.message.id } });
    expect(elsewhere.errors?.[0]?.extensions?.code).toBe('MESSAGE_NOT_FOUND');
    expect((await gql(url, token, Balance)).errors?.[0]?.extensions?.code).toBe('INSUFFICIENT_PERMISSIONS');
    expect((await gql(url, token, MyAccount)).errors?.[0]?.extensions?.code).toBe('INSUFFICIENT_PERMISSIONS');
    // Subscribed without naming it, it follows its message (here replayed from before it), and no other.
    const updates = new Collector(wsClient(gateway.wsUrl, token), DeliveryUpdated, { after: earlierCursor });
    const replayed = await updates.until((items) => items.some((u) => FINAL.includes(u.deliveryUpdated.delivery.status)), 'its final status');
    updates.dispose();
    expect(new Set(replayed.map((u) => u.deliveryUpdated.messageId))).toEqual(new Set([messageId]));
    const theOther = new Collector(wsClient(gateway.wsUrl, token), DeliveryUpdated, { messageId: other.sendSms.message.id });
    await expect(theOther.until(() => false)).rejects.toThrow(/MESSAGE_NOT_FOUND/);
    theOther.dispose();
  });

  it('die with their key: the next request fails and the WebSocket closes', async () => {
    const { apiKey } = await gateway.account();
    const { token } = await mint(apiKey, { scopes: ['read'], ttlSeconds: 600 });
    const session = openSession(gateway.wsUrl, `Bearer ${token}`);
    expect(await session.acked).toBe(true);
    const keyId = (await gqlData(gateway.graphqlUrl, apiKey, ApiKeys, {})).apiKeys.edges[0]!.node.id;
    await gqlData(gateway.graphqlUrl, apiKey, RevokeApiKey, { id: keyId });
    expect(await session.closed).toEqual({ code: 4403, reason: 'API key revoked' });
    const refused = await gql(gateway.graphqlUrl, token, Balance);
    expect([refused.status, refused.errors?.[0]?.extensions?.code]).toEqual([401, 'INVALID_API_KEY']);
  });

  it('expire: an open WebSocket closes with a code to reconnect on, and the token is refused with TOKEN_EXPIRED', async () => {
    const { token, expiresAt } = await mint(account.apiKey, { scopes: ['read'], ttlSeconds: 2 });
    const session = openSession(gateway.wsUrl, `Bearer ${token}`);
    expect(await session.acked).toBe(true);
    expect(await session.closed).toEqual({ code: TOKEN_EXPIRED_CLOSE.code, reason: TOKEN_EXPIRED_CLOSE.reason });
    expect(Date.now()).toBeGreaterThanOrEqual(new Date(expiresAt).getTime());
    const refused = await gql(gateway.graphqlUrl, token, Balance);
    expect([refused.status, refused.errors?.[0]?.extensions?.code]).toEqual([401, 'TOKEN_EXPIRED']);
    const late = openSession(gateway.wsUrl, `Bearer ${token}`);
    expect(await late.acked).toBe(false);
    expect((await late.closed).code).toBe(TOKEN_EXPIRED_CLOSE.code);
  });

  it('are refused when altered or signed by anyone else', async () => {
    const { token } = await mint(account.apiKey, { scopes: ['read'], ttlSeconds: 600 });
    const [header, payload, signature] = token.split('.');
    const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), scope: 'read send admin' })).toString('base64url');
    const keyId = JSON.parse(Buffer.from(payload!, 'base64url').toString()).sub as string;
    const forged = await new SignJWT({ scope: 'read' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('sms-gateway')
      .setSubject(keyId)
      .setJti('x')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode('a secret that is not the gateway one'));
    for (const bad of [`${header}.${widened}.${signature}`, forged, `${token}x`]) {
      const refused = await gql(gateway.graphqlUrl, bad, Balance);
      expect([refused.status, refused.errors?.[0]?.extensions?.code]).toEqual([401, 'INVALID_API_KEY']);
    }
  });

  it('made by one instance work on another: the signing key is shared through the database', async () => {
    const second = await startGateway({}, gateway.databaseUrl);
    try {
      const { token } = await mint(account.apiKey, { scopes: ['read'], ttlSeconds: 600 });
      expect((await gqlData(second.graphqlUrl, token, Balance)).balance.accountId).toBe(account.accountId);
    } finally {
      await second.stop();
    }
  });
});

import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyCacheOf } from '../../src/accounts/key-cache.ts';
import { SUSPENDED_CLOSE } from '../../src/graphql/websocket.ts';
import { CreateAccessToken, CreateApiKey, CreateSubAccount, SubAccounts, SuspendSubAccount } from '../support/account-documents.ts';
import { gql, gqlData } from '../support/client.ts';
import { Balance } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openSession } from '../support/ws-session.ts';

describe('suspending a sub-account', () => {
  let first: TestGateway;
  let second: TestGateway;

  beforeAll(async () => {
    // Two instances of one gateway; the second checks open sockets rarely, so that what closes
    // them below is the announcement of the suspension.
    first = await startGateway();
    second = await startGateway({ KEY_REVOCATION_CHECK_MS: '600000' }, first.databaseUrl);
    for (const gateway of [first, second]) {
      const cache = keyCacheOf(gateway.app.services.db);
      if (!cache.isListening) await once(cache, 'listening');
    }
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
  });

  it('stops its keys and tokens at once on every instance, and lifting it lets them work again', async () => {
    const parent = await first.account();
    const { createSubAccount: shop } = await gqlData(first.graphqlUrl, parent.apiKey, CreateSubAccount, { input: { name: 'shop' } });
    const shopKey = (await gqlData(first.graphqlUrl, parent.apiKey, CreateApiKey, { input: { accountId: shop.id, scopes: ['read'] } })).createApiKey.secret;
    const shopToken = (await gqlData(first.graphqlUrl, shopKey, CreateAccessToken, { input: { scopes: ['read'], ttlSeconds: 600 } })).createAccessToken.token;

    // Known to the second instance (cached), with a WebSocket open on it.
    expect((await gql(second.graphqlUrl, shopKey, Balance)).status).toBe(200);
    expect((await gql(second.graphqlUrl, shopToken, Balance)).status).toBe(200);
    const socket = openSession(second.wsUrl, `Bearer ${shopToken}`);
    expect(await socket.acked).toBe(true);

    const suspended = await gqlData(first.graphqlUrl, parent.apiKey, SuspendSubAccount, { id: shop.id, suspended: true });
    expect(suspended.suspendSubAccount).toEqual({ id: shop.id, suspended: true });
    expect(await socket.closed).toEqual(SUSPENDED_CLOSE);
    for (const credential of [shopKey, shopToken]) {
      const refused = await gql(second.graphqlUrl, credential, Balance);
      expect([refused.status, refused.errors?.[0]?.extensions?.code]).toEqual([403, 'ACCOUNT_SUSPENDED']);
    }
    const again = openSession(second.wsUrl, `Bearer ${shopKey}`);
    expect(await again.acked).toBe(false);
    expect(await again.closed).toEqual(SUSPENDED_CLOSE);
    const listed = await gqlData(first.graphqlUrl, parent.apiKey, SubAccounts, {});
    expect(listed.subAccounts.edges.map((e) => e.node.suspended)).toEqual([true]);

    await gqlData(first.graphqlUrl, parent.apiKey, SuspendSubAccount, { id: shop.id, suspended: false });
    expect((await gql(second.graphqlUrl, shopKey, Balance)).status).toBe(200);
    expect((await gql(second.graphqlUrl, shopToken, Balance)).status).toBe(200);
  });
});

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_EXPIRED_CLOSE } from '../../src/graphql/websocket.ts';
import { ApiKeys, CreateApiKey, MyAccount, RevokeApiKey } from '../support/account-documents.ts';
import { gql, gqlData } from '../support/client.ts';
import { Balance } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openSession } from '../support/ws-session.ts';

const run = promisify(execFile);

describe('an account managing itself over GraphQL', () => {
  let gateway: TestGateway;
  let owner: { apiKey: string; accountId: string; apiKeyId: string };

  const keys = async (apiKey = owner.apiKey) => (await gqlData(gateway.graphqlUrl, apiKey, ApiKeys, { first: 100 })).apiKeys.edges.map((e) => e.node);

  beforeAll(async () => {
    gateway = await startGateway();
    owner = await gateway.account({ credit: '12.5' });
  });
  afterAll(() => gateway.stop());

  it('reads its account', async () => {
    const { account } = await gqlData(gateway.graphqlUrl, owner.apiKey, MyAccount);
    expect(account).toMatchObject({ name: 'test account', currency: 'USD', balance: '12.50', test: false, suspended: false, parent: null });
  });

  it('lists its keys without their secrets, with when each was last used', async () => {
    const [first] = await keys();
    expect(first).toMatchObject({ prefix: expect.stringMatching(/^sgw_live_/), scopes: ['send', 'read', 'admin'], revokedAt: null, allowedOrigins: null });
    expect(new Date(first!.lastUsedAt!).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(JSON.stringify(await keys())).not.toContain(owner.apiKey);
  });

  it('makes a key whose secret is shown once, and revokes it at once', async () => {
    const { createApiKey } = await gqlData(gateway.graphqlUrl, owner.apiKey, CreateApiKey, { input: { name: 'billing report', scopes: ['read'] } });
    expect(createApiKey.apiKey).toMatchObject({ name: 'billing report', scopes: ['read'], revokedAt: null, expiresAt: null });
    expect((await gqlData(gateway.graphqlUrl, createApiKey.secret, Balance)).balance.amount).toBe('12.50');
    expect((await keys()).map((k) => k.name)).toEqual(['billing report', null]);

    const revoked = await gqlData(gateway.graphqlUrl, owner.apiKey, RevokeApiKey, { id: createApiKey.apiKey.id });
    expect(revoked.revokeApiKey.revokedAt).not.toBeNull();
    expect((await gql(gateway.graphqlUrl, createApiKey.secret, Balance)).errors?.[0]?.extensions?.code).toBe('INVALID_API_KEY');
    // Revoking it again changes nothing.
    const again = await gqlData(gateway.graphqlUrl, owner.apiKey, RevokeApiKey, { id: createApiKey.apiKey.id });
    expect(again.revokeApiKey.revokedAt).toBe(revoked.revokeApiKey.revokedAt);
  });

  it('makes a key that ends: refused from then on, and its WebSocket closed when it does', async () => {
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const { createApiKey } = await gqlData(gateway.graphqlUrl, owner.apiKey, CreateApiKey, { input: { scopes: ['read'], expiresAt } });
    expect(createApiKey.apiKey.expiresAt).toBe(expiresAt);
    const session = openSession(gateway.wsUrl, `Bearer ${createApiKey.secret}`);
    expect(await session.acked).toBe(true);
    expect(await session.closed).toEqual(KEY_EXPIRED_CLOSE);
    const refused = await gql(gateway.graphqlUrl, createApiKey.secret, Balance);
    expect([refused.status, refused.errors?.[0]?.extensions?.code, refused.errors?.[0]?.message]).toEqual([401, 'INVALID_API_KEY', 'The API key has expired.']);
  });

  it('sees what the command line makes: the CLI and GraphQL make keys with the same functions', async () => {
    const { stdout } = await run(
      'npm',
      ['run', '--silent', 'cli', '--', 'keys', 'create', '--account', owner.accountId, '--scopes', 'admin,read', '--name', 'ops', '--origins', 'https://ops.example.com'],
      { env: { ...process.env, DATABASE_URL: gateway.databaseUrl, REDIS_URL: '' } },
    );
    const made = JSON.parse(stdout) as { apiKeyId: string; apiKey: string };
    const listed = (await keys()).find((k) => k.name === 'ops');
    expect(listed).toMatchObject({ scopes: ['admin', 'read'], allowedOrigins: ['https://ops.example.com'], revokedAt: null });
    expect(made.apiKey.startsWith(listed!.prefix)).toBe(true);
    // An admin key the CLI made manages keys over GraphQL.
    expect((await keys(made.apiKey)).length).toBeGreaterThan(1);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORIGIN_NOT_ALLOWED_CLOSE } from '../../src/graphql/websocket.ts';
import { ApiKeys, CreateAccessToken, CreateApiKey } from '../support/account-documents.ts';
import { gqlData } from '../support/client.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openSession } from '../support/ws-session.ts';

const APP = 'https://app.example.com';
const OTHER = 'https://elsewhere.example';

describe('allowed origins on keys and tokens', () => {
  let gateway: TestGateway;
  let owner: { apiKey: string; accountId: string };
  let limitedKey: string;

  /** A GraphQL request as a browser on `origin` sends it (none: as a server does). */
  async function fromOrigin(credential: string, origin?: string) {
    const response = await fetch(gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}`, ...(origin ? { origin } : {}) },
      body: JSON.stringify({ query: '{ balance { amount } }' }),
    });
    const body = (await response.json()) as { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> };
    return { status: response.status, allowOrigin: response.headers.get('access-control-allow-origin'), code: body.errors?.[0]?.extensions?.code ?? null };
  }

  beforeAll(async () => {
    gateway = await startGateway();
    owner = await gateway.account();
    const made = await gqlData(gateway.graphqlUrl, owner.apiKey, CreateApiKey, { input: { scopes: ['read'], allowedOrigins: [`${APP}/`] } });
    expect(made.createApiKey.apiKey.allowedOrigins).toEqual([APP]);
    limitedKey = made.createApiKey.secret;
  });
  afterAll(() => gateway.stop());

  it('refuse a request from another origin, and CORS answers only the listed ones', async () => {
    expect(await fromOrigin(limitedKey, APP)).toEqual({ status: 200, allowOrigin: APP, code: null });
    expect(await fromOrigin(limitedKey, OTHER)).toEqual({ status: 403, allowOrigin: null, code: 'ORIGIN_NOT_ALLOWED' });
    // No Origin: not a browser, which the list does not guard against (it is no secret).
    expect(await fromOrigin(limitedKey)).toEqual({ status: 200, allowOrigin: null, code: null });
  });

  it('leave keys without a list as they were: any origin', async () => {
    expect(await fromOrigin(owner.apiKey, OTHER)).toEqual({ status: 200, allowOrigin: OTHER, code: null });
    const keys = await gqlData(gateway.graphqlUrl, owner.apiKey, ApiKeys, {});
    expect(keys.apiKeys.edges.map((e) => e.node.allowedOrigins)).toEqual([[APP], null]);
  });

  it('hold for tokens: their own list, or their key\'s', async () => {
    const own = await gqlData(gateway.graphqlUrl, owner.apiKey, CreateAccessToken, { input: { scopes: ['read'], ttlSeconds: 600, allowedOrigins: [APP] } });
    expect(await fromOrigin(own.createAccessToken.token, OTHER)).toMatchObject({ status: 403, code: 'ORIGIN_NOT_ALLOWED' });
    expect(await fromOrigin(own.createAccessToken.token, APP)).toMatchObject({ status: 200, allowOrigin: APP });
    const inherited = await gqlData(gateway.graphqlUrl, limitedKey, CreateAccessToken, { input: { scopes: ['read'], ttlSeconds: 600 } });
    expect(await fromOrigin(inherited.createAccessToken.token, OTHER)).toMatchObject({ status: 403, code: 'ORIGIN_NOT_ALLOWED' });
  });

  it('answer a preflight as before: it carries no key, and what it lets through is refused above', async () => {
    const response = await fetch(gateway.graphqlUrl, {
      method: 'OPTIONS',
      headers: { origin: OTHER, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(response.status).toBe(204);
  });

  it('refuse a WebSocket opened from another origin, as its key arrives', async () => {
    const refused = openSession(gateway.wsUrl, `Bearer ${limitedKey}`, OTHER);
    expect(await refused.acked).toBe(false);
    expect(await refused.closed).toEqual(ORIGIN_NOT_ALLOWED_CLOSE);
    const allowed = openSession(gateway.wsUrl, `Bearer ${limitedKey}`, APP);
    expect(await allowed.acked).toBe(true);
    allowed.socket.close(1000);
  });
});

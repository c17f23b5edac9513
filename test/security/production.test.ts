import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';

describe('NODE_ENV=production', () => {
  let gateway: TestGateway;
  let key: string;

  beforeAll(async () => {
    gateway = await startGateway({ NODE_ENV: 'production', DISPATCHER: 'off' });
    ({ apiKey: key } = await gateway.account());
  });
  afterAll(() => gateway.stop());

  it('answers no introspection and serves no GraphiQL', async () => {
    const introspection = await fetch(gateway.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: '{ __schema { types { name } } }' }),
    });
    const body = (await introspection.json()) as { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> };
    expect(body.data ?? null).toBeNull();
    expect(body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const page = await fetch(gateway.graphqlUrl, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toMatch(/graphiql/i);
  });
});

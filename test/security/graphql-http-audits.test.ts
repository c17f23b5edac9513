import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';

describe('GraphQL over HTTP conformance (graphql-http server audits)', () => {
  let gateway: TestGateway;
  let key: string;

  beforeAll(async () => {
    gateway = await startGateway({ DISPATCHER: 'off' });
    ({ apiKey: key } = await gateway.account());
  });
  afterAll(() => gateway.stop());

  const audits = serverAudits({
    url: () => gateway.graphqlUrl,
    // Every request carries a valid key, as a client of this API would.
    fetchFn: (input: RequestInfo | URL, init: RequestInit = {}) =>
      fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), authorization: `Bearer ${key}` } }),
  });

  it.each(audits.map((audit) => [audit.name, audit] as const))('%s', async (_name, audit) => {
    const result = await audit.fn();
    // Not only the MUSTs: no SHOULD is left as a warning either.
    expect(result.status === 'ok' ? 'ok' : `${result.status}: ${result.reason}`).toBe('ok');
  });
});

import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyCacheOf } from '../../src/accounts/key-cache.ts';
import { statementsSent } from '../../src/db/client.ts';
import { gql } from '../support/client.ts';
import { Balance } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const run = promisify(execFile);
const NOOP = { toString: () => '{ __typename }' } as never;

describe('API keys known to a gateway', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    // No dispatcher, and revocation checks of open sockets far apart: what happens below is the cache's doing.
    gateway = await startGateway({ DISPATCHER: 'off', KEY_REVOCATION_CHECK_MS: '600000' });
    const cache = keyCacheOf(gateway.app.services.db);
    if (!cache.isListening) await once(cache, 'listening');
  });
  afterAll(() => gateway.stop());

  it('are authenticated without a query once seen', async () => {
    const { apiKey } = await gateway.account();
    expect((await gql(gateway.graphqlUrl, apiKey, NOOP)).data).toEqual({ __typename: 'Query' });
    const before = statementsSent(gateway.app.services.db);
    for (let i = 0; i < 20; i++) expect((await gql(gateway.graphqlUrl, apiKey, NOOP)).status).toBe(200);
    expect(statementsSent(gateway.app.services.db) - before).toBe(0);
  });

  it('fail the request after a revocation made by another process, and their WebSockets close at once', async () => {
    const { apiKey, apiKeyId } = await gateway.account();
    expect((await gql(gateway.graphqlUrl, apiKey, Balance)).status).toBe(200);
    const socket = new WebSocket(gateway.wsUrl, 'graphql-transport-ws');
    await once(socket, 'open');
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${apiKey}` } }));
    await once(socket, 'message');
    const closed = once(socket, 'close') as Promise<[number, Buffer]>;

    await run('npm', ['run', '--silent', 'cli', '--', 'keys', 'revoke', '--key', apiKeyId], {
      env: { ...process.env, DATABASE_URL: gateway.databaseUrl, REDIS_URL: '' },
    });
    const [code, reason] = await closed;
    expect([code, String(reason)]).toEqual([4403, 'API key revoked']);
    const refused = await gql(gateway.graphqlUrl, apiKey, Balance);
    expect(refused.status).toBe(401);
    expect(refused.errors?.[0]?.extensions?.code).toBe('INVALID_API_KEY');
  });
});

import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Collector, gqlData, wsClient } from '../support/client.ts';
import { Balance, DeliveryUpdated, SendSms } from '../support/documents.ts';
import { createTestDatabase } from '../support/database.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

type Family = { name: string; type: string; metrics: Array<{ labels?: Record<string, string>; value?: string; count?: string }> };

async function scrape(gateway: TestGateway): Promise<Map<string, Family>> {
  const response = await fetch(`${gateway.url}/metrics`);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
  const families = parsePrometheusTextFormat(await response.text()) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number {
  const family = families.get(name);
  const metric = family?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return Number(metric?.value ?? metric?.count ?? 0);
}

describe('/metrics', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(() => gateway.stop());

  it('parses as Prometheus text and its counters move with traffic', async () => {
    const { apiKey, accountId } = await gateway.account();
    const before = await scrape(gateway);
    for (const name of [
      'sms_gateway_graphql_operations_total',
      'sms_gateway_graphql_operation_duration_seconds',
      'sms_gateway_delivery_updates_total',
      'sms_gateway_callbacks_total',
      'sms_gateway_websocket_connections',
      'sms_gateway_live_subscribers',
      'sms_gateway_dispatch_queue_depth',
      'sms_gateway_dispatch_queue_oldest_due_seconds',
    ]) {
      expect(before.has(name), name).toBe(true);
    }

    const client = wsClient(gateway.wsUrl, apiKey);
    const updates = new Collector(client, DeliveryUpdated);
    await gateway.subscribersLive(accountId);
    const during = await scrape(gateway);
    expect(value(during, 'sms_gateway_websocket_connections')).toBeGreaterThanOrEqual(1);
    expect(value(during, 'sms_gateway_live_subscribers')).toBeGreaterThanOrEqual(1);

    await gqlData(gateway.graphqlUrl, apiKey, Balance);
    await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'count me', recipients: ['+255712345671'] } });
    await updates.until((items) => items.some((u) => u.deliveryUpdated.delivery.status === 'DELIVERED'));
    updates.dispose();
    await client.dispose();

    const after = await scrape(gateway);
    const ops = (field: string, families: Map<string, Family>) =>
      value(families, 'sms_gateway_graphql_operations_total', { field, type: field === 'sendSms' ? 'mutation' : 'query', outcome: 'ok' });
    expect(ops('balance', after) - ops('balance', before)).toBe(1);
    expect(ops('sendSms', after) - ops('sendSms', before)).toBe(1);
    const updatesOf = (status: string, provider: string, families: Map<string, Family>) =>
      value(families, 'sms_gateway_delivery_updates_total', { provider, status });
    expect(updatesOf('QUEUED', 'none', after) - updatesOf('QUEUED', 'none', before)).toBe(1);
    expect(updatesOf('DELIVERED', 'sandbox', after) - updatesOf('DELIVERED', 'sandbox', before)).toBe(1);
  });

  it('counts callback outcomes', async () => {
    const before = await scrape(gateway);
    await fetch(`${gateway.url}/callbacks/mifumo?token=wrong`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const after = await scrape(gateway);
    const refused = (families: Map<string, Family>) => value(families, 'sms_gateway_callbacks_total', { provider: 'mifumo', outcome: 'unauthorized' });
    expect(refused(after) - refused(before)).toBe(1);
  });

});

describe('/ready', () => {
  it('turns 503 while the database is unreachable, and back to 200 when it returns', async () => {
    const databaseUrl = new URL(await createTestDatabase());
    const proxy = await TcpProxy.start({ host: databaseUrl.hostname, port: Number(databaseUrl.port) });
    databaseUrl.port = String(proxy.port);
    const gateway = await startGateway({ DISPATCHER: 'off' }, databaseUrl.toString());
    try {
      expect((await fetch(`${gateway.url}/ready`)).status).toBe(200);
      await proxy.cut();
      const down = await fetch(`${gateway.url}/ready`);
      expect(down.status).toBe(503);
      expect(await down.json()).toMatchObject({ database: 'down' });
      expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
      // What fails inside is masked: the client learns nothing of the database.
      const failed = await fetch(gateway.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer sgw_live_AAAAAAAA_${'A'.repeat(40)}` },
        body: JSON.stringify({ query: '{ balance { amount } }' }),
      });
      const body = JSON.stringify(await failed.json());
      expect(body).toContain('"code":"INTERNAL_ERROR"');
      expect(body).not.toMatch(/prisma|postgres|ECONN|stack|timeout/i);
      await proxy.open();
      expect((await fetch(`${gateway.url}/ready`)).status).toBe(200);
    } finally {
      await proxy.open().catch(() => undefined);
      await gateway.stop();
      await proxy.cut();
    }
  });
});

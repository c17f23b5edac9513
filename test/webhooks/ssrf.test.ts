import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { systemResolver } from '../../src/webhooks/addresses.ts';
import { gql, gqlData } from '../support/client.ts';
import { CreateWebhookEndpoint, SendSms, WebhookEndpoints } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { WebhookReceiver } from '../support/webhook-receiver.ts';

describe('webhook URLs that point inside the network', () => {
  let gateway: TestGateway;
  const receiver = new WebhookReceiver();
  // The one fake: DNS, as a partner's (or an attacker's) name server answers it.
  const dns = new Map<string, string>();

  beforeAll(async () => {
    await receiver.start();
    gateway = await startGateway({}, undefined, undefined, {
      resolveHost: async (host) => {
        const address = dns.get(host);
        return address ? [{ address, family: address.includes(':') ? 6 : 4 }] : systemResolver(host);
      },
    });
  });
  afterAll(async () => {
    await gateway.stop();
    await receiver.stop();
  });

  it('refuses loopback, private, link-local and metadata addresses and other schemes with INVALID_WEBHOOK_URL', async () => {
    const { apiKey } = await gateway.account({ test: true });
    dns.set('internal.partner.example', '10.1.2.3');
    for (const url of [
      'http://127.0.0.1/hooks',
      'http://169.254.169.254/latest/meta-data/',
      'ftp://partner.example/hooks',
      'http://localhost:8080/hooks',
      'http://[::1]/hooks',
      'http://[::ffff:127.0.0.1]/hooks',
      'http://[fd00:ec2::254]/latest/meta-data/',
      'http://[fe80::1]/hooks',
      'http://192.168.1.10/hooks',
      'https://internal.partner.example/hooks',
      'https://user:password@hooks.partner.example/',
      'not a url',
    ]) {
      const result = await gql(gateway.graphqlUrl, apiKey, CreateWebhookEndpoint, { input: { url } });
      expect(result.errors?.[0]?.extensions?.code, url).toBe('INVALID_WEBHOOK_URL');
    }
    const { webhookEndpoints } = await gqlData(gateway.graphqlUrl, apiKey, WebhookEndpoints, {});
    expect(webhookEndpoints).toEqual([]);
  });

  it('checks the address again at every request: a public name that now resolves to loopback gets no request', async () => {
    const { apiKey } = await gateway.account({ test: true });
    dns.set('hooks.partner.example', '93.184.216.34');
    const port = new URL(receiver.url).port;
    const { createWebhookEndpoint } = await gqlData(gateway.graphqlUrl, apiKey, CreateWebhookEndpoint, {
      input: { url: `http://hooks.partner.example:${port}/rebound` },
    });
    expect(createWebhookEndpoint.endpoint.enabled).toBe(true);
    // The name now points at the gateway's own machine, where the receiver listens.
    dns.set('hooks.partner.example', '127.0.0.1');
    await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'rebinding', recipients: ['+255712345671'] } });

    const deadline = Date.now() + 20_000;
    let attempts: Array<{ outcome: string; error?: string | null; statusCode?: number | null }> = [];
    while (attempts.length === 0 && Date.now() < deadline) {
      const { webhookEndpoints } = await gqlData(gateway.graphqlUrl, apiKey, WebhookEndpoints, {});
      attempts = webhookEndpoints[0]!.deliveries.edges.map((e) => e.node);
    }
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts[0]).toMatchObject({ outcome: 'refused', statusCode: null });
    expect(attempts[0]!.error).toContain('127.0.0.1');
    expect(receiver.received.filter((r) => r.path === '/rebound')).toEqual([]);

    type Family = { name: string; metrics: Array<{ value: string; labels?: Record<string, string> }> };
    const families = parsePrometheusTextFormat(await (await fetch(`${gateway.url}/metrics`)).text()) as Family[];
    const counter = families.find((f) => f.name === 'sms_gateway_webhook_deliveries_total');
    const refused = counter?.metrics.find((m) => m.labels?.outcome === 'refused');
    expect(Number(refused?.value)).toBeGreaterThan(0);
    // The refused event waits for its retry in the outbox, which the queue gauges show.
    const depth = families.find((f) => f.name === 'sms_gateway_webhook_queue_depth');
    expect(Number(depth?.metrics[0]?.value)).toBeGreaterThan(0);
    expect(families.some((f) => f.name === 'sms_gateway_webhook_queue_oldest_due_seconds')).toBe(true);
  });
});

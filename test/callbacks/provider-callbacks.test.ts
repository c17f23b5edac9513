import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mifumo } from '../../src/providers/mifumo/index.ts';
import { mtnCongo } from '../../src/providers/mtn_congo/index.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { capturingLogger } from '../providers/harness.ts';

// Acceptance 6 of issue 12: the callback URLs to paste into providers' dashboards, token
// included, printed by `providers callbacks`, are taken by the callback route as they are.

const run = promisify(execFile);
const NOWHERE = 'http://127.0.0.1:9';
const upstreams = {
  ...mifumo.environment(mifumo.simulatorConfig, NOWHERE),
  ...mtnCongo.environment(mtnCongo.simulatorConfig, NOWHERE),
  ...nextsms.environment(nextsms.simulatorConfig, NOWHERE),
  PROVIDER_BALANCE_CHECK_MS: '0',
};

describe('providers callbacks', () => {
  let gateway: TestGateway;
  const { logger, lines } = capturingLogger();

  // No CALLBACK_SECRET: the gateway generates one and stores it, and the command reads that one.
  beforeAll(async () => {
    gateway = await startGateway({ ...upstreams, DISPATCHER: 'off' }, undefined, logger);
  });
  afterAll(() => gateway.stop());

  it('prints each enabled provider that calls back with a URL the callback route accepts as it is', async () => {
    const { stdout } = await run('npm', ['run', '--silent', 'cli', '--', 'providers', 'callbacks'], {
      env: { ...process.env, ...upstreams, DATABASE_URL: gateway.databaseUrl, PUBLIC_URL: gateway.url, REDIS_URL: '' },
    });
    const printed = JSON.parse(stdout) as Array<{ provider: string; url: string }>;
    expect(printed.map((p) => p.provider)).toEqual(['mifumo', 'mtn_congo']);
    const secret = gateway.app.services.callbacks.secret!;
    const bodies: Record<string, unknown> = {
      mifumo: { event: 'message.delivered', message_id: 'msg_1', recipient: '+255712345671', status: 'delivered', delivered_at: null, error_message: null, timestamp: null },
      mtn_congo: { status: 'ok', id: 26, externalId: null, receivers: [{ receiver: '242068463499', status: 'delivre', date: '2026-01-01T10:00:00', motif: null }] },
    };
    for (const { provider, url } of printed) {
      expect(url).toBe(`${gateway.url}/callbacks/${provider}?token=${encodeURIComponent(secret)}`);
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(bodies[provider]) });
      expect(response.status, provider).toBe(200);
      // Read and matched (to no delivery: none was sent), not refused.
      expect(await response.json()).toMatchObject({ unmatched: 1 });
    }
  });

  it('warns at start that providers calling back are handed a loopback URL while PUBLIC_URL is unset', () => {
    const warning = lines.map((line) => JSON.parse(line) as { level: number; msg: string; providers?: string[] }).find((l) => l.msg.includes('PUBLIC_URL'));
    expect(warning).toMatchObject({ level: 40, providers: ['mifumo', 'mtn_congo'] });
    expect(lines.join('\n')).not.toContain(gateway.app.services.callbacks.secret!);
  });
});

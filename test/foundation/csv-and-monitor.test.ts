import { execFile } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const run = promisify(execFile);

describe('bulk send from a CSV file, and the monitor page', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway({ DISPATCHER: 'off' });
  });
  afterAll(() => gateway.stop());

  async function cli(...args: string[]) {
    return run('npm', ['run', '--silent', 'cli', '--', ...args], { env: { ...process.env, DATABASE_URL: gateway.databaseUrl, REDIS_URL: '' } });
  }

  it('sends one personalised message per text, reports rejected rows, and charges like sendSms', async () => {
    const { accountId } = await gateway.account({ credit: '1' });
    const dir = mkdtempSync(join(tmpdir(), 'csv-'));
    const file = join(dir, 'list.csv');
    writeFileSync(file, '\ufeffPhone,Name,Message\n+255712345671,Asha,Hi {{name}}\n0712345672,Juma,Hi {{name}}\nnonsense,X,Hi {{name}}\n+255712345673,,Plain text\n');
    const { stdout } = await cli('send', '--account', accountId, '--csv', file);
    expect(JSON.parse(stdout)).toEqual({ messages: 2, recipients: 3, rejected: 1 });
    const deliveries = await gateway.app.services.db.delivery.findMany({ where: { accountId }, orderBy: { recipient: 'asc' }, select: { recipient: true, body: true } });
    expect(deliveries).toEqual([
      { recipient: '+255712345671', body: 'Hi Asha' },
      { recipient: '+255712345672', body: 'Hi Juma' },
      { recipient: '+255712345673', body: null },
    ]);
    const account = await gateway.app.services.db.account.findUniqueOrThrow({ where: { id: accountId } });
    expect(account.balance.toString()).toBe('0.94');
  });

  it('refuses a file without a phone column, sending nothing', async () => {
    const { accountId } = await gateway.account({ credit: '1' });
    const file = join(mkdtempSync(join(tmpdir(), 'csv-')), 'bad.csv');
    writeFileSync(file, 'name\nAsha\n');
    await expect(cli('send', '--account', accountId, '--csv', file, '--message', 'hi')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('MISSING_RECIPIENTS'),
    });
    expect(await gateway.app.services.db.message.count({ where: { accountId } })).toBe(0);
  });

  it('serves the monitor page and its script, locked to this origin', async () => {
    const page = await fetch(`${gateway.url}/monitor`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('id="key"');
    expect(html).toContain('/monitor/monitor.js');
    const script = await fetch(`${gateway.url}/monitor/monitor.js`);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await script.text()).toContain("from './connection.js'");
    // Its libraries come from the gateway itself: the page works offline.
    for (const path of ['/monitor/vendor/uPlot.esm.js', '/monitor/vendor/graphql-ws.min.js', '/monitor/vendor/uPlot.min.css']) {
      expect((await fetch(`${gateway.url}${path}`)).status).toBe(200);
    }
    expect(html).not.toMatch(/https?:\/\//);
  });
});

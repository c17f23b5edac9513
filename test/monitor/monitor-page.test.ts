import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gqlData } from '../support/client.ts';
import { SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { browserAvailable, launchChromium, tilesOf } from './browser.ts';

// Every sandbox fate, chosen by the number's last digit (src/providers/sandbox/sandbox.ts).
const FATES = {
  '+255712345671': 'DELIVERED',
  '+255712345678': 'FAILED',
  '+255712345679': 'EXPIRED',
  '+255712345677': 'REJECTED',
} as const;

type Row = { delivery: string; recipient: string; status: string };

const rowsOf = (page: Page): Promise<Row[]> =>
  page.$$eval('#rows tr', (trs) =>
    trs.map((tr) => ({
      delivery: (tr as HTMLElement).dataset.delivery!,
      recipient: tr.querySelector('.recipient')!.textContent!,
      status: (tr as HTMLElement).dataset.status!,
    })),
  );

/** Waits until the table shows each recipient once, in the status given. */
async function untilRowsShow(page: Page, expected: Record<string, string>) {
  await page.waitForFunction(
    (want) => {
      const rows = [...document.querySelectorAll<HTMLElement>('#rows tr')];
      return Object.entries(want).every(([recipient, status]) => {
        const mine = rows.filter((tr) => tr.querySelector('.recipient')?.textContent === recipient);
        return mine.length === 1 && mine[0]!.dataset.status === status;
      });
    },
    expected,
    { timeout: 20_000 },
  );
}

async function connect(page: Page, url: string, key: string) {
  await page.goto(`${url}/monitor`);
  await page.fill('#key', key);
  await page.click('#connect button[type=submit]');
}

const live = (page: Page) => page.waitForSelector('#state[data-state=live]', { timeout: 20_000 });

describe.skipIf(!browserAvailable())('the monitor page in Chromium', () => {
  let gateway: TestGateway;
  let browser: Browser;
  let page: Page;
  let apiKey: string;
  const send = (recipients: string[], message = 'Habari, your order is ready') =>
    gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message, recipients } });

  beforeAll(async () => {
    [gateway, browser] = await Promise.all([startGateway(), launchChromium()]);
    ({ apiKey } = await gateway.account());
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it('starts from the server: what was sent before the page opened is counted and listed', async () => {
    await send(['+255712345661']);
    await connect(page, gateway.url, apiKey);
    await live(page);
    await untilRowsShow(page, { '+255712345661': 'DELIVERED' });
    await page.waitForFunction(() => document.querySelector('#tiles [data-tile=ACCEPTED] strong')?.textContent === '1');
    expect(await tilesOf(page)).toMatchObject({ ACCEPTED: 1, DELIVERED: 1 });
    expect(await page.evaluate(() => sessionStorage.getItem('monitor-key'))).toBe(apiKey);
  });

  it('shows every sandbox fate reach its final status, live, with readable ids, and charts it', async () => {
    const sent = await send(Object.keys(FATES));
    await untilRowsShow(page, FATES);
    await page.waitForFunction(() => document.querySelector('#tiles [data-tile=ACCEPTED] strong')?.textContent === '5');
    expect(await tilesOf(page)).toMatchObject({ ACCEPTED: 5, WAITING: 0, SENT: 0, DELIVERED: 2, FAILED: 1, EXPIRED: 1, REJECTED: 1 });

    const failed = page.locator('#rows tr[data-status=FAILED]');
    await expect(failed.locator('.error').textContent()).resolves.toContain('SANDBOX_UNDELIVERABLE');
    await expect(failed.locator('.time').textContent()).resolves.toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
    const messageId = failed.locator('button.id').first();
    expect(await messageId.getAttribute('title')).toContain(sent.sendSms.message.id);
    expect(await messageId.textContent()).toMatch(/^[0-9a-f]{8}$/);

    // The chart has points, and the delivered line is painted: isolated from the others by a
    // ctrl-click on its legend entry (lines of equal counts lie on top of each other), its green
    // is on the canvas above the zero line.
    await page.waitForFunction(() => {
      const chart = (globalThis as unknown as { monitor: { rateChart: { data: number[][]; series: { label: string }[] } } }).monitor.rateChart;
      const delivered = chart.series.findIndex((s) => s.label === 'delivered');
      return chart.data[delivered]!.some((n) => n > 0);
    });
    const deliveredLegend = page.locator('#rate-chart .u-legend .u-label', { hasText: 'delivered' });
    await deliveredLegend.click({ modifiers: ['Control'] });
    await page.waitForFunction(() => {
      const canvas = document.querySelector('#rate-chart canvas') as HTMLCanvasElement;
      const { data, width } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const greenRows: number[] = [];
      for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i]! - 26) < 30 && Math.abs(data[i + 1]! - 127) < 30 && Math.abs(data[i + 2]! - 55) < 30 && data[i + 3]! > 200) greenRows.push(Math.floor(i / 4 / width));
      }
      const zeroLine = Math.max(...greenRows);
      return greenRows.filter((row) => row < zeroLine - 5).length > 10;
    });
    expect(await page.locator('#rate-chart .u-legend tr.u-series.u-off').count()).toBe(5);
    await deliveredLegend.click({ modifiers: ['Control'] });
    await page.waitForFunction(() => document.querySelectorAll('#rate-chart .u-legend tr.u-series.u-off').length === 0);
    // Final outcomes per provider: the sandbox's, in its table.
    await page.waitForFunction(() => document.querySelector('#provider-table tr[data-provider=sandbox]')?.textContent?.includes('40.0%'));
  });

  it('filters by status, provider and recipient', async () => {
    await page.selectOption('#filter-status', 'FAILED');
    await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 1);
    expect(await rowsOf(page)).toEqual([expect.objectContaining({ recipient: '+255712345678', status: 'FAILED' })]);

    await page.selectOption('#filter-status', '');
    await page.selectOption('#filter-provider', 'sandbox');
    await page.fill('#filter-recipient', '5679');
    await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 1);
    expect(await rowsOf(page)).toEqual([expect.objectContaining({ recipient: '+255712345679', status: 'EXPIRED' })]);
    await page.fill('#filter-recipient', '');
    await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 5);
  });

  it('drills down into a message: text, segments, cost and each delivery attempt, in one query', async () => {
    await page.click('#rows tr[data-status=FAILED] td.recipient');
    await page.waitForSelector('#drilldown:not([hidden]) .delivery');
    const panel = await page.textContent('#drilldown');
    expect(panel).toContain('Habari, your order is ready');
    expect(panel).toContain('1 × 4 recipients (GSM7)');
    expect(panel).toMatch(/cost\s*0\.08 USD/);
    expect(await page.locator('#drilldown .delivery').count()).toBe(4);
    const failed = page.locator('#drilldown .delivery', { hasText: '+255712345678' });
    expect(await failed.locator('.attempts').textContent()).toContain('SUBMITTED');
    await page.click('#drilldown-close');
    expect(await page.isHidden('#drilldown')).toBe(true);
  });

  it('after a reload, starts again from the server and resumes live, with no duplicate row', async () => {
    await page.reload();
    await live(page);
    await untilRowsShow(page, { ...FATES, '+255712345661': 'DELIVERED' });
    await send(['+255712345662', '+255712345668']);
    await untilRowsShow(page, { ...FATES, '+255712345661': 'DELIVERED', '+255712345662': 'DELIVERED', '+255712345668': 'FAILED' });
    const rows = await rowsOf(page);
    expect(rows).toHaveLength(7);
    expect(new Set(rows.map((r) => r.delivery)).size).toBe(7);
    await page.waitForFunction(() => document.querySelector('#tiles [data-tile=ACCEPTED] strong')?.textContent === '7');
    expect(await tilesOf(page)).toMatchObject({ ACCEPTED: 7, DELIVERED: 3, FAILED: 2, EXPIRED: 1, REJECTED: 1 });
  });

  it('reconnects after a gateway restart and resumes from its last cursor, with no duplicate row', async () => {
    const port = new URL(gateway.url).port;
    await gateway.stop();
    await page.waitForSelector('#state[data-state=reconnecting]');
    // What happens while the page is away reaches it after the restart.
    gateway = await startGateway({ PORT: port }, gateway.databaseUrl);
    await send(['+255712345663']);
    await live(page);
    await send(['+255712345664']);
    const expected = { ...FATES, '+255712345661': 'DELIVERED', '+255712345662': 'DELIVERED', '+255712345668': 'FAILED', '+255712345663': 'DELIVERED', '+255712345664': 'DELIVERED' };
    await untilRowsShow(page, expected);
    const rows = await rowsOf(page);
    expect(new Set(rows.map((r) => r.delivery)).size).toBe(rows.length);
    expect(rows).toHaveLength(9);
    await page.waitForFunction(() => document.querySelector('#tiles [data-tile=DELIVERED] strong')?.textContent === '5');
    expect(await tilesOf(page)).toMatchObject({ ACCEPTED: 9, DELIVERED: 5, FAILED: 2, EXPIRED: 1, REJECTED: 1 });
  });

  it('says so when the key is wrong, and forgets it', async () => {
    const other = await browser.newPage();
    await connect(other, gateway.url, `${apiKey}x`);
    await other.waitForSelector('#state[data-state=wrong-key]');
    expect(await other.textContent('#state')).toBe('wrong key: This API key is not accepted.');
    expect(await other.evaluate(() => sessionStorage.getItem('monitor-key'))).toBeNull();
    expect(await other.locator('#rows tr').count()).toBe(0);
    await other.close();
  });
});

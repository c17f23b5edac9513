import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/accounts/accounts.ts';
import { browserAvailable, launchChromium } from '../monitor/browser.ts';
import { startRig, type Rig } from './rig.ts';

type Row = { destination: string; provider: string; state: string; share: string };

const routeRows = (page: Page): Promise<Row[]> =>
  page.$$eval('#routes-table tbody tr', (trs) =>
    trs.map((tr) => ({
      destination: (tr as HTMLElement).dataset.destination!,
      provider: (tr as HTMLElement).dataset.provider!,
      state: (tr as HTMLElement).dataset.state!,
      share: tr.querySelector('td.share')!.textContent!,
    })),
  );

// The monitor shows routing to those who may read it: each destination's providers, what they
// were measured at and their share of new traffic; a delivery's drill-down says why it went where.
describe.skipIf(!browserAvailable())('routes on the monitor page', () => {
  let rig: Rig;
  let browser: Browser;
  let page: Page;
  const open = async (key: string) => {
    await page.goto(`${rig.gateway.url}/monitor`);
    await page.fill('#key', key);
    await page.click('#connect button[type=submit]');
    await page.waitForSelector('#state[data-state=live]', { timeout: 20_000 });
  };

  beforeAll(async () => {
    [rig, browser] = await Promise.all([startRig(), launchChromium()]);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const sent = await rig.send(400);
    await rig.settle(sent);
  });
  afterAll(async () => {
    await browser?.close();
    await rig?.stop();
  });

  it('lists each provider of Tanzania with its share for an admin key, and the reason on a delivery', async () => {
    await open(rig.apiKey);
    await page.waitForSelector('#routes:not([hidden]) #routes-table tbody tr', { timeout: 20_000 });
    const rows = await routeRows(page);
    expect(rows.find((r) => r.destination === 'BD')).toMatchObject({ provider: 'mimsms', share: '100.0%' });
    expect(rows.filter((r) => r.destination === 'TZ')).toEqual([
      { destination: 'TZ', provider: 'mifumo', state: 'chosen', share: '95.0%' },
      { destination: 'TZ', provider: 'nextsms', state: 'costlier', share: '5.0%' },
    ]);
    await page.click('#rows tr[data-message]');
    await page.waitForSelector('#drilldown .routing');
    expect(await page.textContent('#drilldown .routing')).toMatch(/^routing \(adaptive(, explored)?\): /);
  });

  it('leaves routes out for a key without admin', async () => {
    const sender = await createApiKey(rig.gateway.app.services.db, rig.accountId, { scopes: ['send', 'read'] });
    await open(sender.apiKey);
    await page.waitForSelector('#rows tr[data-message]', { timeout: 20_000 });
    expect(await page.isHidden('#routes')).toBe(true);
  });
});

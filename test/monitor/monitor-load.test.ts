import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gqlData } from '../support/client.ts';
import { SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { browserAvailable, launchChromium, tilesOf } from './browser.ts';

// 7 recipients every 100 ms: 70 deliveries a second, each with 3 updates (QUEUED, SENT, final)
// or 2 when the sandbox rejects it (numbers ending in 7): about 200 updates a second.
const SECONDS = Number(process.env.MONITOR_LOAD_SECONDS ?? 60);
const TICK_MS = 100;
const PER_TICK = 7;
const updatesOf = (recipient: string) => (recipient.endsWith('7') ? 2 : 3);

type FrameStats = { frames: number; seconds: number; averageFps: number; worstSecondFps: number; longestFrameMs: number; longTaskMs: number };

/** Counts animation frames (and long tasks) from now on, in the page. */
function countFrames(page: Page) {
  return page.evaluate(() => {
    const probe = { frames: [] as number[], longTaskMs: 0, running: true };
    (globalThis as unknown as { frameProbe: typeof probe }).frameProbe = probe;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) probe.longTaskMs += entry.duration;
    }).observe({ type: 'longtask', buffered: false });
    const tick = (t: number) => {
      probe.frames.push(t);
      if (probe.running) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
}

function frameStats(page: Page): Promise<FrameStats> {
  return page.evaluate(() => {
    const probe = (globalThis as unknown as { frameProbe: { frames: number[]; longTaskMs: number; running: boolean } }).frameProbe;
    probe.running = false;
    const frames = probe.frames;
    const seconds = (frames.at(-1)! - frames[0]!) / 1000;
    const perSecond = new Map<number, number>();
    let longest = 0;
    frames.forEach((t, i) => {
      const second = Math.floor((t - frames[0]!) / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
      if (i > 0) longest = Math.max(longest, t - frames[i - 1]!);
    });
    const whole = [...perSecond].filter(([second]) => second < Math.floor(seconds)).map(([, n]) => n);
    return {
      frames: frames.length,
      seconds,
      averageFps: frames.length / seconds,
      worstSecondFps: Math.min(...whole),
      longestFrameMs: longest,
      longTaskMs: probe.longTaskMs,
    };
  });
}

describe.skipIf(!browserAvailable())('the monitor page under load', () => {
  let gateway: TestGateway;
  let browser: Browser;

  beforeAll(async () => {
    [gateway, browser] = await Promise.all([
      startGateway({ RATE_LIMITS: JSON.stringify({ send: 1_000_000, status: 1_000_000, reports: 1000, balance: 1000 }) }),
      launchChromium(),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await gateway?.stop();
  });

  it(`shows every one of about 200 updates a second for ${SECONDS} s, and reports the frame rate`, { timeout: SECONDS * 1000 + 120_000 }, async () => {
    const { apiKey } = await gateway.account({ credit: '100000' });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${gateway.url}/monitor`);
    await page.fill('#key', apiKey);
    await page.click('#connect button[type=submit]');
    await page.waitForSelector('#state[data-state=live]');
    await countFrames(page);

    let next = 100_000;
    let expectedUpdates = 0;
    const sends: Promise<unknown>[] = [];
    const start = Date.now();
    for (let tick = 0; tick < (SECONDS * 1000) / TICK_MS; tick += 1) {
      // The load's own pace: each batch leaves at its time, whatever the answers do.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + tick * TICK_MS - Date.now())));
      const recipients = Array.from({ length: PER_TICK }, () => `+255712${next++}`);
      expectedUpdates += recipients.reduce((sum, r) => sum + updatesOf(r), 0);
      sends.push(gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'load', recipients } }));
    }
    await Promise.all(sends);
    const sentFor = (Date.now() - start) / 1000;
    const deliveries = next - 100_000;

    await page.waitForFunction((want) => Number(document.querySelector<HTMLElement>('#updates')?.dataset.count) >= want, expectedUpdates, {
      timeout: 120_000,
      polling: 500,
    });
    const stats = await frameStats(page);
    expect(Number(await page.getAttribute('#updates', 'data-count'))).toBe(expectedUpdates);
    await page.waitForFunction((n) => document.querySelector('#tiles [data-tile=ACCEPTED] strong')?.textContent === n.toLocaleString('en'), deliveries);
    const tiles = await tilesOf(page);
    expect(tiles.DELIVERED! + tiles.FAILED! + tiles.EXPIRED! + tiles.REJECTED!).toBe(deliveries);
    expect(tiles.REJECTED).toBe(deliveries / 10);

    process.stdout.write(
      `monitor under load: ${expectedUpdates} updates of ${deliveries} deliveries in ${sentFor.toFixed(1)} s ` +
        `(${(expectedUpdates / sentFor).toFixed(0)}/s); frames: ${stats.averageFps.toFixed(1)} fps on average over ${stats.seconds.toFixed(1)} s, ` +
        `worst second ${stats.worstSecondFps} fps, longest frame ${stats.longestFrameMs.toFixed(0)} ms, long tasks ${stats.longTaskMs.toFixed(0)} ms in all\n`,
    );
    await page.close();
  });
});

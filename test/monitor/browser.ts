import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`); `.ci/run` installs it when it is missing. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Whether the browser tests can run. Without the browser they are skipped with a message,
 * except under CI=true, where a missing browser is a failure.
 */
export function browserAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`No Chromium at ${CHROMIUM}: .ci/run installs Debian's chromium; the monitor tests cannot run.`);
  process.stderr.write(`Skipping the monitor's browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium).\n`);
  return false;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

/** The numbers on the page's tiles, by tile (ACCEPTED, WAITING, SENT, DELIVERED...). */
export const tilesOf = (page: Page): Promise<Record<string, number>> =>
  page.$$eval('#tiles .tile', (tiles) =>
    Object.fromEntries(tiles.map((t) => [(t as HTMLElement).dataset.tile, Number(t.querySelector('strong')!.textContent!.replace(/,/g, ''))])),
  );

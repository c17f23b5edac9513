import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_EXPIRED_CLOSE } from '../../src/graphql/websocket.ts';
import { CreateApiKey } from '../support/account-documents.ts';
import { startAppBackend, type AppBackend } from '../support/app-backend.ts';
import { gql, gqlData } from '../support/client.ts';
import { MessageById, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { browserAvailable, launchChromium } from '../monitor/browser.ts';

type Closed = { code: number; reason: string };
const RECIPIENT = '+255712345671';

/** What the page lists: each entry's class (a status, or "refused") and text. */
const listed = (page: Page) => page.$$eval('#statuses li', (items) => items.map((li) => [li.className, li.textContent]));
const closesOf = (page: Page) => page.evaluate(() => (globalThis as unknown as { closes: Closed[] }).closes);

describe.skipIf(!browserAvailable())('a browser app with access tokens, in Chromium', () => {
  let gateway: TestGateway;
  let browser: Browser;
  let backend: AppBackend;
  let accountId: string;

  /** The app's backend sends an SMS with its key, as a shop does when an order ships. */
  const ship = async () =>
    (await gqlData(gateway.graphqlUrl, backend.apiKey, SendSms, { input: { message: 'Your order is on its way', recipients: [RECIPIENT] } })).sendSms.message.id;

  /** The README's page, opened from `origin` to follow `messageId`; its WebSockets' closes are recorded. */
  async function openPage(origin: string, messageId: string): Promise<Page> {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      const recorded = globalThis as unknown as { closes: Closed[]; WebSocket: typeof WebSocket };
      recorded.closes = [];
      const Native = recorded.WebSocket;
      recorded.WebSocket = class extends Native {
        constructor(url: string | URL, protocols?: string | string[]) {
          super(url, protocols);
          this.addEventListener('close', (event) => recorded.closes.push({ code: event.code, reason: event.reason }));
        }
      };
    });
    await page.goto(`${origin}/?message=${encodeURIComponent(messageId)}`);
    return page;
  }

  beforeAll(async () => {
    // Reports come 6 s after submission: a page opened meanwhile sees DELIVERED arrive live, and
    // a token of 2 s expires before it, even on a busy machine where a page takes seconds to open.
    [gateway, browser] = await Promise.all([startGateway({ SANDBOX_DELIVERY_DELAY_MS: '6000' }), launchChromium()]);
    const account = await gateway.account();
    accountId = account.accountId;
    backend = await startAppBackend({ graphqlUrl: gateway.graphqlUrl, wsUrl: gateway.wsUrl, ttlSeconds: 600 });
    // The app's key may be used from its own site only (its backend sends no Origin).
    const key = await gqlData(gateway.graphqlUrl, account.apiKey, CreateApiKey, {
      input: { name: 'shop backend', scopes: ['send', 'read'], allowedOrigins: [backend.origin] },
    });
    backend.apiKey = key.createApiKey.secret;
  });
  afterAll(async () => {
    await browser?.close();
    await backend?.close();
    await gateway?.stop();
  });

  it("shows a message's statuses live to DELIVERED, from another origin than the gateway's, with a read token from its backend", async () => {
    expect(new URL(backend.origin).origin).not.toBe(new URL(gateway.url).origin);
    const messageId = await ship();
    const page = await openPage(backend.origin, messageId);
    await gateway.subscribersLive(accountId);
    // Not delivered yet when the page joined: DELIVERED reaches it live.
    const delivery = await gateway.app.services.db.delivery.findFirstOrThrow({ where: { recipient: RECIPIENT }, orderBy: { createdAt: 'desc' } });
    expect(delivery.status).not.toBe('DELIVERED');
    await page.waitForSelector('#statuses li.DELIVERED', { timeout: 20_000 });
    expect(await listed(page)).toEqual([
      ['QUEUED', `${RECIPIENT}: QUEUED`],
      ['SENT', `${RECIPIENT}: SENT`],
      ['DELIVERED', `${RECIPIENT}: DELIVERED`],
    ]);
    expect(backend.tokens).toHaveLength(1);
    // Over HTTP too, from the page: CORS lets its origin read the answer.
    const read = await page.evaluate(
      async ({ url, token, id }) => {
        const response = await fetch(url, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ query: 'query ($id: ID!) { message(id: $id) { status } }', variables: { id } }),
        });
        return response.json();
      },
      { url: gateway.graphqlUrl, token: backend.tokens[0]!, id: messageId },
    );
    expect(read).toEqual({ data: { message: { status: 'DELIVERED' } } });
    await page.close();
  });

  it('is refused on an origin its key does not allow: its socket closed with ORIGIN_NOT_ALLOWED, its requests unreadable', async () => {
    const messageId = await ship();
    const elsewhere = `http://localhost:${backend.port}`;
    const page = await openPage(elsewhere, messageId);
    await page.waitForSelector('#statuses li.refused');
    expect(await listed(page)).toEqual([['refused', 'refused: ORIGIN_NOT_ALLOWED']]);
    expect(await closesOf(page)).toEqual([{ code: 4403, reason: 'ORIGIN_NOT_ALLOWED' }]);
    const fetched = await page.evaluate(
      async ({ url, token }) => {
        try {
          await fetch(url, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ query: '{ __typename }' }),
          });
          return 'read';
        } catch {
          return 'blocked';
        }
      },
      { url: gateway.graphqlUrl, token: backend.tokens.at(-1)! },
    );
    expect(fetched).toBe('blocked');
    // What the browser could not read: the gateway refused it.
    const asSent = await fetch(gateway.graphqlUrl, {
      method: 'POST',
      headers: { authorization: `Bearer ${backend.tokens.at(-1)!}`, 'content-type': 'application/json', origin: elsewhere },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    expect(asSent.status).toBe(403);
    await page.close();
  });

  it('has its WebSocket closed when its token expires, the token refused from then on, and reconnects with a fresh one, missing nothing', async () => {
    backend.ttlSeconds = 2;
    const issuedBefore = backend.tokens.length;
    const messageId = await ship();
    const page = await openPage(backend.origin, messageId);
    await page.waitForFunction((code) => (globalThis as unknown as { closes: Closed[] }).closes.some((c) => c.code === code), TOKEN_EXPIRED_CLOSE.code, {
      timeout: 20_000,
    });
    expect((await closesOf(page))[0]).toEqual({ code: TOKEN_EXPIRED_CLOSE.code, reason: TOKEN_EXPIRED_CLOSE.reason });
    const expired = await gql(gateway.graphqlUrl, backend.tokens[issuedBefore]!, MessageById, { id: messageId });
    expect([expired.status, expired.errors?.[0]?.extensions?.code]).toEqual([401, 'TOKEN_EXPIRED']);

    await page.waitForSelector('#statuses li.DELIVERED', { timeout: 30_000 });
    expect(backend.tokens.length - issuedBefore).toBeGreaterThanOrEqual(2);
    expect(await listed(page)).toEqual([
      ['QUEUED', `${RECIPIENT}: QUEUED`],
      ['SENT', `${RECIPIENT}: SENT`],
      ['DELIVERED', `${RECIPIENT}: DELIVERED`],
    ]);
    await page.close();
  });
});

import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CreateAccessToken } from './account-documents.ts';
import { gqlData } from './client.ts';

const GRAPHQL_WS_DIST = path.dirname(createRequire(import.meta.url).resolve('graphql-ws'));
const README = new URL('../../README.md', import.meta.url);

/** The page script the README shows for browser apps (the code block after its marker). */
export async function readmeBrowserScript(): Promise<string> {
  const text = await readFile(README, 'utf8');
  const match = /<!-- browser-app-script[^>]*-->\s*```js\n([\s\S]*?)```/.exec(text);
  if (!match) throw new Error('README.md has no browser-app-script block');
  return match[1]!;
}

export type AppBackend = {
  /** http://127.0.0.1:<port>; the same server is also http://localhost:<port>, another origin. */
  origin: string;
  port: number;
  /** Every token handed to the page, in order. */
  tokens: string[];
  /** Lifetime of the tokens it hands out from now on. */
  ttlSeconds: number;
  /** The app's own API key, kept on its server. */
  apiKey: string;
  close(): Promise<void>;
};

/**
 * A customer's small web app: serves the README's page script (with graphql-ws from
 * node_modules, as a bundler would), and hands its visitors read tokens for one message made
 * with its own API key, which never reaches the browser.
 */
export async function startAppBackend(options: { graphqlUrl: string; wsUrl: string; ttlSeconds: number }): Promise<AppBackend> {
  const script = (await readmeBrowserScript()).replace('wss://sms.example.com/graphql', options.wsUrl);
  const page = `<!doctype html><html><head><meta charset="utf-8"><title>Your SMS</title>
<script type="importmap">{"imports": {"graphql-ws": "/vendor/graphql-ws/client.js"}}</script></head>
<body><h1>Your SMS</h1><ul id="statuses"></ul><script type="module">${script}</script></body></html>`;
  const backend: Omit<AppBackend, 'origin' | 'port' | 'close'> = { tokens: [], ttlSeconds: options.ttlSeconds, apiKey: '' };

  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://backend');
    const answer = (status: number, type: string, body: string | Buffer) => response.writeHead(status, { 'content-type': type }).end(body);
    void (async () => {
      if (url.pathname === '/') return answer(200, 'text/html; charset=utf-8', page);
      const vendored = /^\/vendor\/graphql-ws\/([\w.-]+\.js)$/.exec(url.pathname);
      if (vendored) return answer(200, 'text/javascript', await readFile(path.join(GRAPHQL_WS_DIST, vendored[1]!)));
      if (url.pathname === '/sms-token') {
        const made = await gqlData(options.graphqlUrl, backend.apiKey, CreateAccessToken, {
          input: { scopes: ['read'], ttlSeconds: backend.ttlSeconds, messageId: url.searchParams.get('message') },
        });
        backend.tokens.push(made.createAccessToken.token);
        return answer(200, 'application/json', JSON.stringify({ token: made.createAccessToken.token, after: made.createAccessToken.after }));
      }
      return answer(404, 'text/plain', 'not found');
    })().catch((error: unknown) => answer(500, 'text/plain', String(error)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return Object.assign(backend, {
    origin: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

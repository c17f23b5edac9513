import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';
import type { DeliveryWebhook } from '../../src/webhooks/payload.ts';

export type ReceivedWebhook = { path: string; headers: IncomingHttpHeaders; body: string; at: number };

/**
 * A partner's endpoint: a plain HTTP server that records every request and answers as
 * `answer` says (200 unless told otherwise).
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  /** The status to answer with, or 'hang' to never answer; a 3xx carries a Location. */
  answer: (request: ReceivedWebhook) => number | 'hang' = () => 200;
  private server: Server | undefined;
  private watchers: Array<() => void> = [];

  constructor(private port = 0) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const request = { path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
        this.received.push(request);
        const answer = this.answer(request);
        if (answer !== 'hang') {
          res.statusCode = answer;
          if (answer >= 300 && answer < 400) res.setHeader('location', `${this.url}/redirected`);
          res.end(answer >= 400 ? 'not now' : 'ok');
        }
        for (const watcher of [...this.watchers]) watcher();
      });
    });
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as { port: number }).port;
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server!.close(resolve));
    this.server = undefined;
  }

  /** Resolves once the requests received satisfy `condition`; fails after `timeoutMs`. */
  until(condition: (received: ReceivedWebhook[]) => boolean, what: string, timeoutMs = 30_000): Promise<ReceivedWebhook[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.watchers = this.watchers.filter((w) => w !== check);
        reject(new Error(`timed out waiting for ${what} (${this.received.length} requests so far)`));
      }, timeoutMs);
      const check = () => {
        if (!condition(this.received)) return;
        clearTimeout(timer);
        this.watchers = this.watchers.filter((w) => w !== check);
        resolve(this.received);
      };
      this.watchers.push(check);
      check();
    });
  }
}

export type VerifiedWebhook = { id: string; body: DeliveryWebhook };

/** Verifies a request as a receiver would, with the standardwebhooks package; throws when the signature is wrong. */
export function verified(secret: string, request: ReceivedWebhook): VerifiedWebhook {
  const headers = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)]));
  const body = new Webhook(secret).verify(request.body, headers) as DeliveryWebhook;
  return { id: headers['webhook-id']!, body };
}

import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { BlockedAddress, checkedAddress, type ResolveHost } from './addresses.ts';

const EXCERPT_BYTES = 512;

export type RequestOutcome = 'success' | 'http_error' | 'gone' | 'timeout' | 'network_error' | 'refused';

export type RequestResult = {
  outcome: RequestOutcome;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  /** The start of the answer's body; the rest is not read. */
  excerpt: string | null;
};

export type RequestOptions = { timeoutMs: number; resolve: ResolveHost; allowPrivate: boolean; signal?: AbortSignal };

/**
 * POSTs one webhook. The host is resolved and checked at every request and the connection goes
 * to the address checked; redirects are not followed (a 3xx is an answer like any non-2xx);
 * the whole exchange has `timeoutMs`.
 */
export async function postWebhook(url: string, headers: Record<string, string>, body: string, options: RequestOptions): Promise<RequestResult> {
  const started = Date.now();
  const result = (outcome: RequestOutcome, fields: Partial<RequestResult> = {}): RequestResult => ({
    outcome,
    statusCode: null,
    error: null,
    excerpt: null,
    ...fields,
    durationMs: Date.now() - started,
  });
  const target = new URL(url);
  let pinned: { address: string; family: number };
  try {
    pinned = await checkedAddress(target, options.resolve, options.allowPrivate);
  } catch (error) {
    if (error instanceof BlockedAddress) return result('refused', { error: error.message });
    return result('network_error', { error: (error as Error).message });
  }
  const lookup: LookupFunction = (_host, lookupOptions, callback) => {
    if (lookupOptions.all) (callback as (e: null, a: typeof pinned[]) => void)(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const client = target.protocol === 'https:' ? https : http;
  return new Promise<RequestResult>((resolve) => {
    let settled = false;
    const finish = (value: RequestResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const request = client.request(target, {
      method: 'POST',
      lookup,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'sms-gateway-webhooks/1', ...headers },
    });
    const timer = setTimeout(() => {
      request.destroy();
      finish(result('timeout', { error: `no answer within ${options.timeoutMs} ms` }));
    }, options.timeoutMs);
    const onAbort = () => {
      request.destroy();
      finish(result('network_error', { error: 'stopped: the gateway is shutting down' }));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    request.on('error', (error) => finish(result('network_error', { error: error.message })));
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const done = () => {
        response.destroy();
        const excerpt = chunks.length > 0 ? Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString('utf8') : null;
        const outcome: RequestOutcome = status >= 200 && status < 300 ? 'success' : status === 410 ? 'gone' : 'http_error';
        finish(result(outcome, { statusCode: status, excerpt, error: outcome === 'success' ? null : `answered ${status}` }));
      };
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= EXCERPT_BYTES) done();
      });
      response.on('end', done);
      response.on('error', done);
    });
    request.end(body);
  });
}

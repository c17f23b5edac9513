import http from 'node:http';

// node:http with kept-alive connections: the load generator shares the two cores with what it
// measures, and `fetch` costs it about a millisecond of CPU a request (measured), this a third of that.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1000 });

/** A GraphQL request over HTTP with an API key; fails on any GraphQL error. */
export async function post(url: string, key: string, query: string, variables?: unknown): Promise<unknown> {
  const body = (await postRaw(`${url}/graphql`, JSON.stringify({ query, variables }), key)) as { errors?: unknown[]; data?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** POSTs a JSON body and reads the JSON answer. */
export function postRaw(url: string, body: string, key?: string): Promise<unknown> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(key ? { authorization: `Bearer ${key}` } : {}) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

export type LoadResult = { requests: number; seconds: number; perSecond: number; latencies: number[] };

/**
 * `clients` loops, each sending its share of `requests` one after the other (a closed loop,
 * as the load generator Kannel was measured with).
 */
export async function runLoad(clients: number, requests: number, send: (client: number, i: number) => Promise<unknown>): Promise<LoadResult> {
  const latencies: number[] = [];
  const perClient = Math.ceil(requests / clients);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; i < perClient; i++) {
        const t = performance.now();
        await send(c, i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { requests: perClient * clients, seconds, perSecond: (perClient * clients) / seconds, latencies };
}

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

export function latencySummary(samples: number[]): string {
  const f = (n: number) => n.toFixed(1);
  return `p50 ${f(percentile(samples, 50))} ms, p95 ${f(percentile(samples, 95))} ms, p99 ${f(percentile(samples, 99))} ms`;
}

const PREFIXES = ['71', '74', '75', '76', '78'];

/** Distinct Tanzanian mobile numbers that the sandbox delivers (last digit 1): the n-th is the same in every run. */
export function numbers(count: number, start: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const n = start + i;
    const prefix = PREFIXES[Math.floor(n / 1e6)];
    if (!prefix) throw new Error(`no number #${n}`);
    return `+255${prefix}${String((n % 1e6) * 10 + 1).padStart(7, '0')}`;
  });
}

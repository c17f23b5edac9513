// `npm run bench`: measures the gateway as a separate process, driven from this one, on this
// machine's PostgreSQL and Redis, and writes BENCHMARKS.md. Figures, not assertions.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { createAccount } from '../../src/accounts/accounts.ts';
import { createDb, type Db } from '../../src/db/client.ts';
import { prepareDatabase } from '../../src/db/bootstrap.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';

const SERVER = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const SEND = 'mutation ($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }';
const lines: string[] = [];
const say = (line = '') => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(1);
  return `p50 ${f(percentile(sorted, 50))} ms, p95 ${f(percentile(sorted, 95))} ms, p99 ${f(percentile(sorted, 99))} ms`;
}

async function startGateway(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.includes('"gateway listening"')) resolve({ url: `http://127.0.0.1:${JSON.parse(line).port}`, child });
    });
    child.on('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
  });
}

async function post(url: string, key: string, query: string, variables: unknown) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { errors?: unknown[]; data?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

function numbers(count: number, start: number): string[] {
  return Array.from({ length: count }, (_, i) => `+25571${String(start + i).padStart(7, '0')}`);
}

async function waitUntil(probe: () => Promise<boolean>) {
  while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Lets the dispatcher finish what earlier scenarios left, so scenarios do not share the queue. */
async function drained(db: Db): Promise<void> {
  await waitUntil(async () => (await db.dispatchJob.count()) === 0);
}

async function finalCount(db: Db, accountId: string): Promise<number> {
  return db.delivery.count({ where: { accountId, status: { in: ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'] } } });
}

/** SQL statements the gateway has sent, from its own metrics. */
async function statements(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^sms_gateway_db_statements_total (\d+)/m.exec(text)?.[1] ?? 0);
}

const database = `sgw_bench_${randomBytes(3).toString('hex')}`;
const databaseUrl = `${SERVER}/${database}`;
const admin = new pg.Client({ connectionString: `${SERVER}/postgres` });
await admin.connect();
await prepareDatabase(databaseUrl);
const db = createDb(databaseUrl, 4);
const sim = nextsms.createSimulator(nextsms.simulatorConfig, { reportDelayMs: 50 });
await sim.start();
const children: ChildProcess[] = [];

try {
  const { url, child } = await startGateway({
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    REDIS_PREFIX: database,
    SANDBOX_DELIVERY_DELAY_MS: '100',
    ...nextsms.environment(nextsms.simulatorConfig, sim.url),
    PROVIDER_RATES: JSON.stringify({ nextsms: 50 }),
    REPORT_POLL_AFTER_MS: '200',
    RATE_LIMITS: JSON.stringify({ send: 1_000_000, status: 1_000_000, reports: 1_000_000, balance: 1_000_000 }),
    WS_MAX_CONNECTIONS_PER_KEY: '1000',
    // Everything goes to the sandbox unless a scenario names a provider.
    ROUTES: JSON.stringify({ default: ['sandbox'] }),
  });
  children.push(child);
  const { apiKey, accountId } = await createAccount(db, { name: 'bench', currency: 'USD', credit: '1000000' });

  say('# Benchmarks');
  say();
  say(`Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}),`);
  say(`${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, the machine's PostgreSQL and Redis. The gateway runs as its own`);
  say('process (`npm start`); the load comes from the benchmark process on the same machine, so');
  say('both share the cores. On this shared two-core machine, figures of two runs can differ by');
  say('half or more (the concurrent sendSms ones most); compare runs on one machine, not across.');
  say();

  // Warm-up: first queries compile plans, first connections open.
  for (let i = 0; i < 20; i++) await post(url, apiKey, SEND, { input: { message: 'warm', recipients: numbers(1, 1_000_000 + i) } });

  say('## sendSms, one recipient');
  const sequential: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = performance.now();
    await post(url, apiKey, SEND, { input: { message: 'Your code is 4242', recipients: numbers(1, 2_000_000 + i) } });
    sequential.push(performance.now() - t);
  }
  say(`- one client, 200 requests in a row: ${stats(sequential)}`);
  for (const clients of [10, 50]) {
    const latencies: number[] = [];
    const perClient = 40;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        for (let i = 0; i < perClient; i++) {
          const start = performance.now();
          await post(url, apiKey, SEND, { input: { message: 'Your code is 4242', recipients: numbers(1, 3_000_000 + c * 1000 + i) } });
          latencies.push(performance.now() - start);
        }
      }),
    );
    const seconds = (performance.now() - t) / 1000;
    say(`- ${clients} clients at once, ${clients * perClient} requests: ${(clients * perClient / seconds).toFixed(0)} messages accepted a second; ${stats(latencies)}`);
  }
  {
    // The same load spread over 10 accounts: one account's sends queue on its balance row.
    const accounts = await Promise.all(
      Array.from({ length: 10 }, (_, i) => createAccount(db, { name: `bench ${i}`, currency: 'USD', credit: '100000' })),
    );
    const latencies: number[] = [];
    const t = performance.now();
    await Promise.all(
      Array.from({ length: 50 }, async (_, c) => {
        for (let i = 0; i < 40; i++) {
          const start = performance.now();
          await post(url, accounts[c % 10]!.apiKey, SEND, { input: { message: 'Your code is 4242', recipients: numbers(1, 4_000_000 + c * 1000 + i) } });
          latencies.push(performance.now() - start);
        }
      }),
    );
    const seconds = (performance.now() - t) / 1000;
    say(`- 50 clients of 10 accounts, 2000 requests: ${(2000 / seconds).toFixed(0)} messages accepted a second; ${stats(latencies)}`);
  }
  say();

  say('## Bulk sendSms');
  for (const size of [1_000, 10_000]) {
    const t = performance.now();
    await post(url, apiKey, SEND, { input: { message: 'Bulk notice', recipients: numbers(size, 5_000_000 + size) } });
    say(`- ${size.toLocaleString('en')} recipients in one request: accepted (stored, debited, queued) in ${(performance.now() - t).toFixed(0)} ms`);
  }
  say();

  await drained(db);
  say('## Dispatch, accepted to final status');
  for (const [provider, size] of [
    ['sandbox', 5_000],
    ['nextsms', 2_000],
  ] as const) {
    const { apiKey: key, accountId: id } = await createAccount(db, { name: `bench ${provider}`, currency: 'USD', credit: '100000' });
    await drained(db);
    const t = performance.now();
    for (let offset = 0; offset < size; offset += 1000) {
      await post(url, key, SEND, { input: { message: 'Dispatch me', recipients: numbers(Math.min(1000, size - offset), 6_000_000 + offset), provider } });
    }
    await waitUntil(async () => (await finalCount(db, id)) === size);
    const seconds = (performance.now() - t) / 1000;
    say(`- ${size.toLocaleString('en')} deliveries through ${provider === 'sandbox' ? 'the sandbox (report 100 ms after sending)' : 'the NextSMS simulator (paced at 50 requests a second, report 50 ms after sending, polled)'}: all final in ${seconds.toFixed(1)} s, ${(size / seconds).toFixed(0)} deliveries a second`);
  }
  say();

  await drained(db);
  say('## Live updates to many subscribers');
  for (const subscribers of [1, 100, 500]) {
    const { apiKey: key } = await createAccount(db, { name: `fanout ${subscribers}`, currency: 'USD', credit: '100' });
    const socketsFor = () =>
      createClient({ url: `${url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, lazy: true, keepAlive: 0 });
    // Up to 20 subscriptions per connection, as the gateway allows.
    const sockets = Array.from({ length: Math.ceil(subscribers / 20) }, socketsFor);
    let received = 0;
    let lastAt = 0;
    const disposers: Array<() => void> = [];
    for (let s = 0; s < subscribers; s++) {
      disposers.push(
        sockets[s % sockets.length]!.subscribe(
          { query: 'subscription { deliveryUpdated { cursor delivery { status recipient message { id status } } } }' },
          { next: () => ((received += 1), (lastAt = performance.now())), error: () => undefined, complete: () => undefined },
        ),
      );
    }
    await waitUntil(async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return Number(/^sms_gateway_live_subscribers (\d+)/m.exec(text)?.[1] ?? 0) >= subscribers;
    });
    const before = await statements(url);
    const t = performance.now();
    await post(url, key, SEND, { input: { message: 'Fan me out', recipients: numbers(1, 8_000_000) } });
    await waitUntil(async () => received >= subscribers * 3);
    const elapsed = lastAt - t;
    // The scrape itself costs one statement (the queue gauges); it is not counted.
    const spent = (await statements(url)) - before - 1;
    say(`- ${subscribers} subscriber${subscribers === 1 ? '' : 's'} of one account: a message's 3 updates (QUEUED, SENT, DELIVERED) reached every one ${elapsed.toFixed(0)} ms after the send began; SQL statements the gateway sent meanwhile: ${spent}`);
    for (const dispose of disposers) dispose();
    await Promise.all(sockets.map((c) => c.dispose()));
  }
  say();
  say('The statements are those of the send, its dispatch and its report, plus the dispatcher');
  say("looking for work every 200 ms while it waits for the sandbox's report; they do not grow with");
  say('the number of subscribers: an update reaches them through Redis with everything they asked');
  say('for (the delivery, its message), with no query per subscriber (test/deliveries/fanout.test.ts');
  say('checks exactly that).');
} finally {
  for (const child of children) child.kill('SIGTERM');
  await sim.stop();
  await db.$disconnect();
  await new Promise((resolve) => setTimeout(resolve, 500));
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
  await admin.end();
}

writeFileSync(new URL('../../BENCHMARKS.md', import.meta.url), `${lines.join('\n')}\n`);

// `npm run bench`: measures the gateway as a separate process, driven from this one, on this
// machine's PostgreSQL and Redis (or ones it starts, as the suite does), and writes
// BENCHMARKS.md. Figures and ratios measured in one run; no assertions.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { createInterface } from 'node:readline';
import { createClient } from 'graphql-ws';
import { Redis } from 'ioredis';
import pg from 'pg';
import WebSocket from 'ws';
import { createAccount } from '../../src/accounts/accounts.ts';
import { prepareDatabase } from '../../src/db/bootstrap.ts';
import { createDb } from '../../src/db/client.ts';
import { nextsms } from '../../src/providers/nextsms/index.ts';
import { suitePostgres, suiteRedis } from '../support/services.ts';
import { cpuMeter, type CpuSpent } from './cpu.ts';
import { benchFanOut, benchReports, type Target } from './history.ts';
import { latencySummary, numbers, post, runLoad } from './load.ts';
import { benchRouting } from './routing.ts';

const SEND = 'mutation ($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }';
const NOOP = '{ __typename }';
const lines: string[] = [];
const say = (line = '') => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};
const f0 = (n: number) => n.toLocaleString('en', { maximumFractionDigits: 0 });
const f2 = (n: number) => n.toFixed(2);

let nextNumber = 0;
function take(count: number): string[] {
  const list = numbers(count, nextNumber);
  nextNumber += count;
  return list;
}

type Gateway = { url: string; child: ChildProcess; stop(): Promise<void> };

async function startGateway(env: Record<string, string>): Promise<Gateway> {
  const nodeArgs = process.env.BENCH_GATEWAY_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.includes('"gateway listening"')) return;
      resolve({
        url: `http://127.0.0.1:${JSON.parse(line).port}`,
        child,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
    child.on('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
  });
}

async function waitUntil(probe: () => Promise<boolean>, everyMs = 20) {
  while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, everyMs));
}

/** Lets the dispatcher finish all earlier work (submissions and status polls), so that no scenario pays for another's. */
async function drained(): Promise<void> {
  await waitUntil(async () => (await db.dispatchJob.count()) === 0, 100);
}

const postgres = await suitePostgres();
const redisService = await suiteRedis();
const database = `sgw_bench_${randomBytes(3).toString('hex')}`;
const databaseUrl = `${postgres.url}/${database}`;
await prepareDatabase(databaseUrl);
const db = createDb(databaseUrl, 4);
const raw = new pg.Pool({ connectionString: databaseUrl, max: 12 });
const redis = new Redis(redisService.url);

const postmaster = await (async () => {
  const { rows } = await raw.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const stat = readFileSync(`/proc/${rows[0]!.pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
})();
const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);

const sim = nextsms.createSimulator(nextsms.simulatorConfig, { reportDelayMs: 50 });
await sim.start();

const baseEnv = {
  DATABASE_URL: databaseUrl,
  REDIS_URL: redisService.url,
  REDIS_PREFIX: database,
  SANDBOX_DELIVERY_DELAY_MS: '100',
  ...nextsms.environment(nextsms.simulatorConfig, sim.url),
  PROVIDER_RATES: JSON.stringify({ nextsms: 50 }),
  REPORT_POLL_AFTER_MS: '200',
  RATE_LIMITS: JSON.stringify({ send: 100_000_000, status: 100_000_000, reports: 100_000_000, balance: 100_000_000 }),
  WS_MAX_CONNECTIONS_PER_KEY: '1000',
  // Everything goes to the sandbox unless a scenario names a provider.
  ROUTES: JSON.stringify({ default: ['sandbox'] }),
};

// `npm run bench` runs every section and writes BENCHMARKS.md; `npm run bench -- fanout` (or
// `throughput`, `reports`, `routing`) runs those only and prints them. BENCH_GATEWAY_NODE_ARGS adds Node
// options to the gateway (for example `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile it).
const SECTIONS = ['throughput', 'reports', 'fanout', 'routing'];
const asked = process.argv.slice(2).filter((a) => SECTIONS.includes(a));
const sections = new Set(asked.length > 0 ? asked : SECTIONS);
const targets: Target[] = [];
const gateways: Gateway[] = [];

try {
  say('# Benchmarks');
  say();
  say(`Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}),`);
  say(`${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, PostgreSQL ${(await raw.query('SHOW server_version')).rows[0].server_version}, Redis ${/redis_version:(\S+)/.exec(await redis.info('server'))?.[1]}.`);
  say('The gateway runs as its own process (`npm start`, dispatcher on), the load comes from this');
  say('process on the same machine (Node `fetch`, closed loops: each client sends its next request when');
  say('the previous one is answered), so load generator, gateway, PostgreSQL and Redis share the two');
  say('cores. CPU is read from /proc (utime + stime of the gateway, of every PostgreSQL process, and of');
  say('redis-server) before and after each scenario. Absolute figures move by half from run to run on');
  say('this shared machine; the ratios are measured within one run.');
  say();

  if (sections.has('throughput')) {
    const gateway = await startGateway(baseEnv);
    gateways.push(gateway);
    const { url } = gateway;
    const cpu = cpuMeter({ gateway: gateway.child.pid!, postmaster, redis: redisPid });
    const one = await createAccount(db, { name: 'bench', currency: 'USD', credit: '1000000' });
    const ten = await Promise.all(Array.from({ length: 10 }, (_, i) => createAccount(db, { name: `bench ${i}`, currency: 'USD', credit: '100000' })));

    // Warm-up: plans compiled, connections opened, JIT warm.
    await runLoad(10, 400, () => post(url, one.apiKey, NOOP));
    await runLoad(10, 400, () => post(url, one.apiKey, SEND, { input: { message: 'warm', recipients: take(1) } }));
    await drained();

    const measure = async <T>(work: () => Promise<T>): Promise<{ result: T; cpu: CpuSpent }> => {
      const before = cpu.read();
      const result = await work();
      return { result, cpu: cpu.since(before) };
    };
    const perThousand = (c: CpuSpent, n: number) =>
      `${f2((c.total * 1000) / n)} CPU-s per 1,000 (gateway ${f2((c.gateway * 1000) / n)}, PostgreSQL ${f2((c.postgres * 1000) / n)}, Redis ${f2((c.redis * 1000) / n)})`;

    say('## sendSms, one recipient');
    // Each load twice, interleaved (no-op, one account, ten accounts, and again): on this shared
    // machine speed drifts within a run, and what is compared should drift alike.
    const SINGLE = 3000;
    type Measured = Awaited<ReturnType<typeof runLoad>>;
    const loads: Record<'noop' | 'single' | 'spread', { result: Measured; cpu: CpuSpent }[]> = { noop: [], single: [], spread: [] };
    const sendOne = (key: string) => post(url, key, SEND, { input: { message: 'Your code is 4242', recipients: take(1) } });
    // CPU of the sends also until their dispatch has ended (submitted, reported, final).
    const withDispatch: CpuSpent[] = [];
    for (let round = 0; round < 2; round++) {
      loads.noop.push(await measure(() => runLoad(50, SINGLE, () => post(url, one.apiKey, NOOP))));
      const before = cpu.read();
      loads.single.push(await measure(() => runLoad(50, SINGLE, () => sendOne(one.apiKey))));
      await drained();
      withDispatch.push(cpu.since(before));
      loads.spread.push(await measure(() => runLoad(50, SINGLE, (c) => sendOne(ten[c % 10]!.apiKey))));
      await drained();
    }
    // Requests of both rounds over the time of both.
    const combine = (list: { result: Measured; cpu: CpuSpent }[]) => ({
      result: {
        perSecond: list.reduce((n, m) => n + m.result.requests, 0) / list.reduce((t, m) => t + m.result.seconds, 0),
        latencies: list.flatMap((m) => m.result.latencies),
        rounds: list.map((m) => f0(m.result.perSecond)).join(' and '),
      },
      cpu: list.reduce(
        (sum, m) => ({
          gateway: sum.gateway + m.cpu.gateway,
          postgres: sum.postgres + m.cpu.postgres,
          redis: sum.redis + m.cpu.redis,
          total: sum.total + m.cpu.total,
        }),
        { gateway: 0, postgres: 0, redis: 0, total: 0 },
      ),
    });
    const noop = combine(loads.noop);
    const single = combine(loads.single);
    const spread = combine(loads.spread);
    const N = 2 * SINGLE;
    say(`- \`{ __typename }\` with the same key, 50 clients, 2 x ${f0(SINGLE)} requests: ${f0(noop.result.perSecond)} a second (${noop.result.rounds}); ${latencySummary(noop.result.latencies)}; ${perThousand(noop.cpu, N)}`);
    say(`- sendSms, 50 clients, one account, 2 x ${f0(SINGLE)} requests: ${f0(single.result.perSecond)} accepted a second (${single.result.rounds}); ${latencySummary(single.result.latencies)}; ${perThousand(single.cpu, N)}`);
    say(`- sendSms, 50 clients over 10 accounts, 2 x ${f0(SINGLE)} requests: ${f0(spread.result.perSecond)} accepted a second (${spread.result.rounds}); ${latencySummary(spread.result.latencies)}; ${perThousand(spread.cpu, N)}`);
    const fullCost = withDispatch.reduce((sum, c) => sum + c.total, 0);
    say(`- the one-account sends again, counting the CPU also until each has been submitted, reported and ended: ${f2((fullCost * 1000) / N)} CPU-s per 1,000`);
    const noopOne = await runLoad(1, 300, () => post(url, one.apiKey, NOOP));
    const sendsInARow = await runLoad(1, 300, () => sendOne(one.apiKey));
    say(`- one client, 300 in a row: \`{ __typename }\` ${latencySummary(noopOne.latencies)}; sendSms ${latencySummary(sendsInARow.latencies)} (${f0(sendsInARow.perSecond)} a second)`);
    say();
    const ratio1 = single.result.perSecond / noop.result.perSecond;
    targets.push({ what: '1. sendSms / `{ __typename }`, 50 clients, one account', measured: f2(ratio1), target: '>= 0.70', met: ratio1 >= 0.7 });
    const ratio2 = spread.result.perSecond / single.result.perSecond;
    targets.push({ what: '2. 10 accounts / one account, same load', measured: f2(ratio2), target: '<= 1.10', met: ratio2 <= 1.1 });
    const cpuPer1000 = (single.cpu.total * 1000) / N;
    targets.push({ what: '3. CPU-seconds per 1,000 single sends (gateway + PostgreSQL + Redis)', measured: f2(cpuPer1000), target: '<= 3', met: cpuPer1000 <= 3 });

    await drained();
    say('## Bulk sendSms');
    const CALLS = 200;
    const bulkAccount = await createAccount(db, { name: 'bench bulk', currency: 'USD', credit: '1000000' });
    const bulk = await measure(() =>
      runLoad(10, CALLS, () => post(url, bulkAccount.apiKey, SEND, { input: { message: 'Bulk notice', recipients: take(100) } })),
    );
    const recipientsPerSecond = (CALLS * 100) / bulk.result.seconds;
    say(`- calls of 100 recipients, 10 clients, ${CALLS} calls: ${f0(recipientsPerSecond)} recipients accepted a second; ${latencySummary(bulk.result.latencies)} per call; ${perThousand(bulk.cpu, CALLS * 100)} recipients`);
    const bulkStarted = performance.now() - bulk.result.seconds * 1000;
    await waitUntil(async () => (await db.delivery.count({ where: { accountId: bulkAccount.accountId, status: 'QUEUED' } })) === 0);
    const handedOver = (CALLS * 100) / ((performance.now() - bulkStarted) / 1000);
    say(`- the same load end to end (from the first call to the last delivery handed to the sandbox): ${f0(handedOver)} a second`);
    const big: number[] = [];
    for (let i = 0; i < 3; i++) {
      await drained();
      const t = performance.now();
      await post(url, bulkAccount.apiKey, SEND, { input: { message: 'Bulk notice', recipients: take(10_000) } });
      big.push(performance.now() - t);
    }
    say(`- one call of 10,000 recipients (three in a row): accepted in ${big.map((ms) => `${f0(ms)} ms`).join(', ')}`);
    await drained();
    targets.push({ what: '4a. recipients accepted a second, calls of 100, 10 clients', measured: f0(recipientsPerSecond), target: '>= 25,000', met: recipientsPerSecond >= 25_000 });
    const bestBig = Math.min(...big);
    targets.push({ what: '4b. one call of 10,000 recipients, ms (best of three)', measured: f0(bestBig), target: '<= 300', met: bestBig <= 300 });

    // Issue 13: the same call for an account with 10,000 numbers opted out (none of them among the
    // recipients, so every one is checked and none is spared), interleaved with an account without.
    const listed = await createAccount(db, { name: 'bench opt-outs', currency: 'USD', credit: '1000000' });
    await raw.query(`INSERT INTO opt_outs (account_id, recipient) SELECT $1, unnest($2::text[])`, [listed.accountId, take(10_000)]);
    const withList: number[] = [];
    const withoutList: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (const [account, times] of [[bulkAccount, withoutList], [listed, withList]] as const) {
        await drained();
        const t = performance.now();
        await post(url, account.apiKey, SEND, { input: { message: 'Bulk notice', recipients: take(10_000) } });
        times.push(performance.now() - t);
      }
    }
    say(`- one call of 10,000 recipients, interleaved: without an opt-out list ${withoutList.map((ms) => `${f0(ms)} ms`).join(', ')}; with 10,000 numbers opted out ${withList.map((ms) => `${f0(ms)} ms`).join(', ')}`);
    await drained();
    const optOutRatio = Math.min(...withList) / Math.min(...withoutList);
    targets.push({ what: '13.6 10,000 recipients with / without a 10,000-number opt-out list (best of three each)', measured: f2(optOutRatio), target: '<= 1.10', met: optOutRatio <= 1.1 });

    // The raw ceiling: the rows one such call stores, written straight with pg by 10 clients (one
    // account each, so no client waits on another's locks).
    const rawAccounts = await Promise.all(Array.from({ length: 10 }, (_, i) => createAccount(db, { name: `raw ${i}`, currency: 'USD', credit: '1000000' })));
    const rawRun = await runLoad(10, CALLS, async (c) => insertRawCall(raw, rawAccounts[c]!.accountId, take(100)));
    const rawPerSecond = (CALLS * 100) / rawRun.seconds;
    say(`- raw ceiling: the same rows (a message, 100 deliveries, 100 dispatch jobs, 100 events, a debit and its ledger entry per call) inserted straight with \`pg\` (\`INSERT ... SELECT FROM unnest(...)\`, one transaction per call, 10 clients, same tables and indexes): ${f0(rawPerSecond)} recipients a second`);
    const ratio6 = recipientsPerSecond / rawPerSecond;
    targets.push({ what: '6. bulk acceptance (4a) / raw pg ceiling', measured: f2(ratio6), target: '(reported)', met: true });
    say();
    await gateway.stop();
    gateways.pop();

    say('## Dispatch, accepted to handed to the sandbox');
    {
      // Accept 50,000 with no dispatcher running, then start one and time it through the queue.
      const DELIVERIES = 50_000;
      const acceptor = await startGateway({ ...baseEnv, DISPATCHER: 'off' });
      gateways.push(acceptor);
      const account = await createAccount(db, { name: 'bench dispatch', currency: 'USD', credit: '1000000' });
      for (let i = 0; i < DELIVERIES / 10_000; i++) {
        await post(acceptor.url, account.apiKey, SEND, { input: { message: 'Dispatch me', recipients: take(10_000) } });
      }
      await acceptor.stop();
      gateways.pop();
      const dispatcher = await startGateway(baseEnv);
      gateways.push(dispatcher);
      const dcpu = cpuMeter({ gateway: dispatcher.child.pid!, postmaster, redis: redisPid });
      const before = dcpu.read();
      const t = performance.now();
      // Cheap to ask (the status index answers it), so asking often does not slow what is measured.
      const waiting = async () =>
        (await raw.query(`SELECT EXISTS (SELECT 1 FROM deliveries WHERE account_id = $1 AND status = 'QUEUED') AS waiting`, [account.accountId])).rows[0]
          .waiting as boolean;
      await waitUntil(async () => !(await waiting()), 50);
      const seconds = (performance.now() - t) / 1000;
      const used = dcpu.since(before);
      const perSecond = DELIVERIES / seconds;
      say(`- ${f0(DELIVERIES)} deliveries waiting, a dispatcher started: all handed to the sandbox in ${seconds.toFixed(2)} s, ${f0(perSecond)} a second; ${perThousand(used, DELIVERIES)} deliveries`);
      targets.push({ what: '5. deliveries handed to the sandbox a second, 50,000 waiting', measured: f0(perSecond), target: '>= 10,000', met: perSecond >= 10_000 });
      await waitUntil(async () => (await db.dispatchJob.count()) === 0, 100);
      say(`- and all 50,000 final (the sandbox reports 100 ms after sending) ${((performance.now() - t) / 1000).toFixed(2)} s after the start`);

      const nextsmsAccount = await createAccount(db, { name: 'bench nextsms', currency: 'USD', credit: '100000' });
      const n = 2000;
      const tn = performance.now();
      for (let offset = 0; offset < n; offset += 1000) {
        await post(dispatcher.url, nextsmsAccount.apiKey, SEND, { input: { message: 'Dispatch me', recipients: take(1000), provider: 'nextsms' } });
      }
      await waitUntil(async () => (await db.dispatchJob.count()) === 0, 100);
      const ns = (performance.now() - tn) / 1000;
      say(`- ${f0(n)} deliveries through the NextSMS simulator (paced at 50 requests a second, polled, report 50 ms after sending): all final in ${ns.toFixed(1)} s, ${f0(n / ns)} a second`);
      say();

      say('## Live updates to many subscribers');
      for (const subscribers of [1, 100, 500]) {
        const { apiKey: key } = await createAccount(db, { name: `fanout ${subscribers}`, currency: 'USD', credit: '100' });
        const connect = () =>
          createClient({ url: `${dispatcher.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` }, lazy: true, keepAlive: 0 });
        // Up to 20 subscriptions per connection, as the gateway allows.
        const sockets = Array.from({ length: Math.ceil(subscribers / 20) }, connect);
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
          const text = await (await fetch(`${dispatcher.url}/metrics`)).text();
          return Number(/^sms_gateway_live_subscribers (\d+)/m.exec(text)?.[1] ?? 0) >= subscribers;
        });
        const ts = performance.now();
        await post(dispatcher.url, key, SEND, { input: { message: 'Fan me out', recipients: take(1) } });
        await waitUntil(async () => received >= subscribers * 3);
        say(`- ${subscribers} subscriber${subscribers === 1 ? '' : 's'} of one account: a message's 3 updates (QUEUED, SENT, DELIVERED) reached every one ${f0(lastAt - ts)} ms after the send began`);
        for (const dispose of disposers) dispose();
        await Promise.all(sockets.map((c) => c.dispose()));
      }
      say();
    }
  }

  const bench = { say, targets, raw, db, take };
  if (sections.has('reports')) {
    const gateway = await startGateway(baseEnv);
    gateways.push(gateway);
    await benchReports(bench, gateway);
    await gateway.stop();
    gateways.pop();
  }
  if (sections.has('fanout')) {
    say('## Live updates to thousands of subscribers');
    // A gateway of its own for each crowd, so that its memory per subscriber is its own.
    const crowds = process.env.BENCH_FANOUT_SUBSCRIBERS?.split(',').map(Number) ?? [2000, 10_000];
    for (const subscribers of crowds) {
      const gateway = await startGateway({ ...baseEnv, WS_MAX_CONNECTIONS_PER_KEY: '10000' });
      gateways.push(gateway);
      await benchFanOut(bench, gateway, subscribers);
      await gateway.stop();
      gateways.pop();
    }
    say();
  }

  if (sections.has('routing')) {
    await benchRouting(
      {
        ...bench,
        drained,
        startGateway: async (env) => {
          const gateway = await startGateway(env);
          gateways.push(gateway);
          return {
            ...gateway,
            stop: async () => {
              await gateway.stop();
              gateways.splice(gateways.indexOf(gateway), 1);
            },
          };
        },
        cpuOf: (gateway) => cpuMeter({ gateway: gateway.child.pid!, postmaster, redis: redisPid }),
      },
      baseEnv,
    );
  }

  say('## Targets (issues 10 and 11), from this run');
  say();
  say('| target | measured | wanted | met |');
  say('|---|---|---|---|');
  for (const t of targets) say(`| ${t.what} | ${t.measured} | ${t.target} | ${t.met ? 'yes' : 'no'} |`);
} finally {
  for (const g of gateways) await g.stop().catch(() => undefined);
  await sim.stop();
  await db.$disconnect();
  await raw.end();
  redis.disconnect();
  const admin = new pg.Client({ connectionString: `${postgres.url}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(database)} WITH (FORCE)`);
  await admin.end();
  await Promise.all([postgres.stop(), redisService.stop()]);
}

if (sections.size === SECTIONS.length) writeFileSync(new URL('../../BENCHMARKS.md', import.meta.url), `${lines.join('\n')}\n`);

/** What acceptance stores for one call of `recipients`, written directly: the ceiling for the gateway's own path. */
async function insertRawCall(pool: pg.Pool, accountId: string, recipients: string[]): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const messageId = randomUUID();
    const ids = recipients.map(() => randomUUID());
    const cost = (0.02 * recipients.length).toFixed(4);
    await client.query(
      `INSERT INTO messages (id, account_id, text, sender_id, request_hash, status, encoding, segments, recipient_count, cost, currency, queued_count, created_at, updated_at)
       VALUES ($1, $2, 'Bulk notice', 'SMSGateway', $3, 'QUEUED', 'GSM7', 1, $4, $5, 'USD', $4, now(), now())`,
      [messageId, accountId, randomUUID(), recipients.length, cost],
    );
    await client.query(
      `INSERT INTO deliveries (id, message_id, account_id, recipient, sender_id, country, segments, price, status, route, created_at, updated_at)
       SELECT t.id, $1, $2, t.recipient, 'SMSGateway', 'TZ', 1, 0.02, 'QUEUED', ARRAY['sandbox'], now(), now() FROM unnest($3::uuid[], $4::text[]) AS t(id, recipient)`,
      [messageId, accountId, ids, recipients],
    );
    await client.query(`INSERT INTO dispatch_jobs (delivery_id, kind, run_at) SELECT unnest($1::uuid[]), 'SUBMIT', now()`, [ids]);
    const seq = await client.query<{ last: string }>(
      `INSERT INTO account_event_seqs (account_id, last_seq) VALUES ($1, $2)
       ON CONFLICT (account_id) DO UPDATE SET last_seq = account_event_seqs.last_seq + EXCLUDED.last_seq RETURNING last_seq AS last`,
      [accountId, ids.length],
    );
    await client.query(
      `INSERT INTO delivery_events (account_id, seq, message_id, delivery_id, status, message_status, occurred_at)
       SELECT $1, $2::bigint - $4 + t.n, $3, t.id, 'QUEUED', 'QUEUED', now() FROM unnest($5::uuid[]) WITH ORDINALITY AS t(id, n)`,
      [accountId, seq.rows[0]!.last, messageId, ids.length, ids],
    );
    await client.query(
      `WITH debited AS (UPDATE accounts SET balance = balance - $2::numeric WHERE id = $1 RETURNING balance)
       INSERT INTO ledger_entries (account_id, kind, amount, balance_after, message_id, note) SELECT $1, 'DEBIT', -$2::numeric, balance, $3, 'sendSms' FROM debited`,
      [accountId, cost, messageId],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

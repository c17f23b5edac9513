// Issue 21 in `npm run bench` (`npm run bench -- routing` on its own): what adaptive routing adds
// to acceptance. The decision per delivery is timed in this process (planning a 10,000-recipient
// send with and without it, on measurements like a gateway's); sending speed is compared on two
// gateways, static and adaptive, over the same load, interleaved.
import type pg from 'pg';
import { createAccount } from '../../src/accounts/accounts.ts';
import type { Caller } from '../../src/accounts/caller.ts';
import { loadConfig } from '../../src/config.ts';
import type { Db } from '../../src/db/client.ts';
import { createLogger } from '../../src/logger.ts';
import { planSend } from '../../src/messages/send-plan.ts';
import { createProviders } from '../../src/providers/index.ts';
import { emptyHistogram } from '../../src/routing/latency.ts';
import { Router } from '../../src/routing/router.ts';
import type { CpuSpent } from './cpu.ts';
import { latencySummary, numbers, post, runLoad } from './load.ts';

type Gateway = { url: string; child: { pid?: number }; stop(): Promise<void> };
export type RoutingBench = {
  say: (line?: string) => void;
  raw: pg.Pool;
  db: Db;
  take: (count: number) => string[];
  drained: () => Promise<void>;
  startGateway: (env: Record<string, string>) => Promise<Gateway>;
  cpuOf: (gateway: Gateway) => { read(): unknown; since(before: unknown): CpuSpent };
};

const f0 = (n: number) => n.toLocaleString('en', { maximumFractionDigits: 0 });
const f2 = (n: number) => n.toFixed(2);
const SEND = 'mutation ($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Two candidates for Tanzania, both enabled here: the sandbox and the NextSMS simulator. */
const ROUTES = JSON.stringify({ default: ['sandbox'], TZ: ['sandbox', 'nextsms'] });
const PRICES = JSON.stringify({ sandbox: { default: '0.0150' }, nextsms: { default: '0.0200' } });

/** Measurements of a busy window for Tanzania and its networks, as counting would have left them. */
async function seedMeasurements(raw: pg.Pool, windowSeconds: number): Promise<void> {
  const bucketMs = (windowSeconds * 1000) / 15;
  const bucket = Math.floor(Date.now() / bucketMs) * bucketMs;
  const latency = emptyHistogram();
  latency[5] = 900; // 3 to 5 s
  latency[6] = 100;
  const rows = ['TZ', '+25571', '+25574', '+25575', '+25576', '+25578'].flatMap((destination) =>
    [['sandbox', 970], ['nextsms', 990]].map(([provider, delivered]) => ({ destination, provider, delivered, latency })),
  );
  await raw.query(
    `INSERT INTO routing_counts (bucket, provider, destination, country, reports, delivered, segments, latency)
     SELECT $1, r.provider, r.destination, 'TZ', 1000, r.delivered, 1000, r.latency
     FROM json_to_recordset($2::json) AS r(provider text, destination text, delivered int, latency int[])`,
    [bucket, JSON.stringify(rows)],
  );
}

export async function benchRouting(bench: RoutingBench, baseEnv: Record<string, string>): Promise<void> {
  const { say } = bench;
  say('## Adaptive routing (issue 21)');
  const env = { ...baseEnv, ROUTES, PROVIDER_PRICES: PRICES };
  const config = loadConfig({ ...process.env, ...env, ROUTING_MODE: 'adaptive' });
  await seedMeasurements(bench.raw, config.routing.windowSeconds);

  // The decision per delivery, in this process: one send to 10,000 numbers over five networks.
  const logger = createLogger('silent');
  const providers = createProviders(config, logger);
  const router = new Router({ db: bench.db, providers, logger, routes: config.routes }, config.routing);
  await router.refresh();
  const caller: Caller = { accountId: '0193a4f2-0000-7000-8000-000000000000', apiKeyId: 'bench', keyPrefix: 'bench', scopes: ['send'], isTest: false, currency: 'USD' };
  const recipients = [0, 1, 2, 3, 4].flatMap((network) => numbers(2000, network * 1_000_000 + 900_000));
  const input = { message: 'Your code is 4242', recipients };
  const timings = { static: [] as number[], adaptive: [] as number[] };
  let explained = 0;
  for (let round = 0; round < 12; round++) {
    for (const mode of ['static', 'adaptive'] as const) {
      const t = performance.now();
      const plan = planSend(input, caller, config, providers, mode === 'adaptive' ? { router } : {});
      timings[mode].push(performance.now() - t);
      if (mode === 'adaptive') explained = plan.deliveries.reduce((n, d) => n + JSON.stringify(d.routing).length, 0) / plan.deliveries.length;
    }
  }
  const perDelivery = ((median(timings.adaptive) - median(timings.static)) * 1000) / recipients.length;
  const carried = ['sandbox', 'nextsms'];
  const CALLS = 1_000_000;
  const t = performance.now();
  for (let i = 0; i < CALLS; i++) router.route('TZ', recipients[i % recipients.length]!, carried, true);
  const routeNs = ((performance.now() - t) * 1e6) / CALLS;
  say(
    `- a routing decision per delivery: ${f2(perDelivery)} µs (planning 10,000 recipients over five networks: ${f2(median(timings.static))} ms static, ${f2(median(timings.adaptive))} ms adaptive, medians of 12); the router's own share ${f0(routeNs)} ns a delivery; its explanation adds ${f0(explained)} bytes of JSON to each delivery's row`,
  );

  // Sending speed, static against adaptive, interleaved twice.
  const CALLS_OF_100 = 200;
  const runs: Record<'static' | 'adaptive', Array<{ perSecond: number; latencies: number[]; cpu: CpuSpent }>> = { static: [], adaptive: [] };
  for (let round = 0; round < 2; round++) {
    for (const mode of ['static', 'adaptive'] as const) {
      const gateway = await bench.startGateway({ ...env, ROUTING_MODE: mode });
      try {
        const account = await createAccount(bench.db, { name: `bench routing ${mode}`, currency: 'USD', credit: '1000000' });
        await runLoad(10, 20, () => post(gateway.url, account.apiKey, SEND, { input: { message: 'warm', recipients: bench.take(100) } }));
        await bench.drained();
        const cpu = bench.cpuOf(gateway);
        const before = cpu.read();
        const load = await runLoad(10, CALLS_OF_100, () => post(gateway.url, account.apiKey, SEND, { input: { message: 'Bulk notice', recipients: bench.take(100) } }));
        runs[mode].push({ perSecond: (CALLS_OF_100 * 100) / load.seconds, latencies: load.latencies, cpu: cpu.since(before) });
        await bench.drained();
      } finally {
        await gateway.stop();
      }
    }
  }
  const summary = (mode: 'static' | 'adaptive') => {
    const list = runs[mode];
    const cpu = list.reduce((sum, r) => sum + r.cpu.total, 0) / (list.length * CALLS_OF_100 * 100);
    return `${list.map((r) => f0(r.perSecond)).join(' and ')} recipients accepted a second; ${latencySummary(list.flatMap((r) => r.latencies))} per call; ${f2(cpu * 1000)} CPU-s per 1,000 recipients`;
  };
  const mean = (mode: 'static' | 'adaptive') => runs[mode].reduce((sum, r) => sum + r.perSecond, 0) / runs[mode].length;
  say(`- calls of 100 Tanzanian recipients (two providers can carry them), 10 clients, ${CALLS_OF_100} calls, two gateways in turn, twice:`);
  say(`  - ROUTING_MODE=static: ${summary('static')}`);
  say(`  - ROUTING_MODE=adaptive (measuring, 5% exploring): ${summary('adaptive')}`);
  say(`  - adaptive / static: ${f2(mean('adaptive') / mean('static'))}`);
  say();
}

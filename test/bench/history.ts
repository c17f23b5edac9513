// The issue 11 scenarios of `npm run bench`: reports over an account with a million deliveries,
// and one update fanned out to thousands of live subscribers.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import { createAccount } from '../../src/accounts/accounts.ts';
import type { Db } from '../../src/db/client.ts';
import { encodeReportCursor } from '../../src/deliveries/report-cursor.ts';
import { seedHistory } from './history-fixture.ts';
import { processSeconds } from './cpu.ts';
import { latencySummary, percentile, post } from './load.ts';

export type Target = { what: string; measured: string; target: string; met: boolean };
type Gateway = { url: string; child: { pid?: number } };
export type HistoryBench = {
  say: (line?: string) => void;
  targets: Target[];
  raw: pg.Pool;
  db: Db;
  take: (count: number) => string[];
};

const f0 = (n: number) => n.toLocaleString('en', { maximumFractionDigits: 0 });
const f1 = (n: number) => n.toFixed(1);
const PAGE = `query ($filter: DeliveryReportFilter, $after: String) {
  deliveryReports(filter: $filter, first: 100, after: $after) { edges { cursor node { id recipient status provider errorCode createdAt } } pageInfo { hasNextPage endCursor } } }`;
const COUNTED_PAGE = `query ($filter: DeliveryReportFilter, $after: String) {
  deliveryReports(filter: $filter, first: 100, after: $after) { totalCount isTotalCountExact edges { cursor node { id recipient status } } } }`;

async function timed(times: number, request: (i: number) => Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < times; i++) {
    const t = performance.now();
    await request(i);
    latencies.push(performance.now() - t);
  }
  return latencies;
}

export async function benchReports(bench: HistoryBench, gateway: Gateway, deliveries = 1_000_000): Promise<void> {
  const { say, targets, raw, db } = bench;
  say(`## Delivery reports over ${f0(deliveries)} deliveries of one account`);
  const account = await createAccount(db, { name: 'bench history', currency: 'USD', credit: '100' });
  const seeded = performance.now();
  await seedHistory(raw, account.accountId, {
    deliveries,
    perMessage: 100,
    days: 60,
    recipients: 200_000,
    senders: ['SMSGateway', 'BANK', 'SHOP', 'ALERTS', 'OTP'],
  });
  await raw.query('VACUUM ANALYZE deliveries');
  say(`- history written straight into the tables (messages of 100 recipients over 60 days, 200,000 distinct numbers, five sender ids, 85% delivered) in ${f1((performance.now() - seeded) / 1000)} s`);
  // Positions spread over the whole history: the row at every 1/20th of it.
  const { rows: positions } = await raw.query<{ createdAt: Date; id: string }>(
    `SELECT created_at AS "createdAt", id FROM (
       SELECT created_at, id, row_number() OVER (ORDER BY created_at DESC, id DESC) AS n FROM deliveries WHERE account_id = $1
     ) x WHERE n % $2 = 1 ORDER BY n`,
    [account.accountId, Math.floor(deliveries / 20)],
  );
  const cursors = [undefined, ...positions.map(encodeReportCursor)];
  const { rows: recipients } = await raw.query<{ recipient: string }>(
    `SELECT recipient FROM deliveries WHERE account_id = $1 ORDER BY id LIMIT 200`,
    [account.accountId],
  );
  const key = account.apiKey;
  const { url } = gateway;
  // Warm-up: connections, plans, caches.
  await timed(50, (i) => post(url, key, PAGE, { after: cursors[i % cursors.length] }));
  const noop = await timed(200, () => post(url, key, '{ __typename }'));
  const pages = await timed(400, (i) => post(url, key, PAGE, { after: cursors[i % cursors.length] }));
  const counted = await timed(200, (i) => post(url, key, COUNTED_PAGE, { after: cursors[i % cursors.length] }));
  const byRecipient = await timed(200, (i) => post(url, key, PAGE, { filter: { recipient: recipients[i]!.recipient } }));
  const bySender = await timed(200, (i) => post(url, key, PAGE, { filter: { senderId: 'OTP' }, after: cursors[i % 5] }));
  const byStatus = await timed(200, (i) => post(url, key, COUNTED_PAGE, { filter: { status: 'FAILED' }, after: cursors[i % 5] }));
  const week = { startDate: new Date(Date.now() - 7 * 86_400_000).toISOString() };
  const byDates = await timed(100, () => post(url, key, COUNTED_PAGE, { filter: week }));
  // The same first page as the gateway reads it, straight with pg: what the API adds to it.
  const rawPage = await timed(200, () =>
    raw.query(`SELECT * FROM deliveries WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT 101`, [account.accountId]),
  );
  say(`- one client, one request at a time; \`{ __typename }\` for comparison: ${latencySummary(noop)}`);
  say(`- a page of 100, no totalCount, at 21 depths from the newest to the oldest (400 requests): ${latencySummary(pages)}`);
  say(`- the same with totalCount (exact, kept counts): ${latencySummary(counted)}`);
  say(`- recipient filter, 200 different numbers: ${latencySummary(byRecipient)}`);
  say(`- sender id filter (a fifth of the history), first pages: ${latencySummary(bySender)}`);
  say(`- status filter FAILED with totalCount: ${latencySummary(byStatus)}`);
  say(`- last 7 days (about ${f0(deliveries * 7 / 60)} deliveries) with totalCount (counted up to 100,000, then isTotalCountExact false): ${latencySummary(byDates)}`);
  say(`- for reference, the first page straight with \`pg\` (same rows, \`SELECT *\`): ${latencySummary(rawPage)}`);
  say();
  const p99 = percentile(pages, 99);
  targets.push({ what: '1a. page of 100 without totalCount, any depth, p99 ms', measured: f1(p99), target: '<= 20', met: p99 <= 20 });
  const median = percentile(counted, 50);
  targets.push({ what: '1b. page of 100 with totalCount, median ms', measured: f1(median), target: '<= 50', met: median <= 50 });
  const recipientP99 = percentile(byRecipient, 99);
  targets.push({ what: '1c. recipient filter, p99 ms', measured: f1(recipientP99), target: '<= 20', met: recipientP99 <= 20 });
}

function rssOf(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}

async function liveSubscribers(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^sms_gateway_live_subscribers (\d+)/m.exec(text)?.[1] ?? 0);
}

export async function benchFanOut(bench: HistoryBench, gateway: Gateway, subscribers: number): Promise<void> {
  const { say, targets, db, take } = bench;
  const account = await createAccount(db, { name: `fanout ${subscribers}`, currency: 'USD', credit: '100' });
  const rssBefore = rssOf(gateway.child.pid!);
  const crowd = fork(new URL('./subscribers.ts', import.meta.url).pathname, [], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      SUBSCRIBERS_URL: `${gateway.url.replace('http', 'ws')}/graphql`,
      SUBSCRIBERS_KEY: account.apiKey,
      SUBSCRIBERS_COUNT: String(subscribers),
      SUBSCRIBERS_QUERY: 'subscription { deliveryUpdated { cursor occurredAt messageStatus delivery { id status recipient provider errorCode message { id status } } } }',
    },
  });
  const messages = new Map<string, (value: unknown) => void>();
  crowd.on('message', (message: Record<string, unknown>) => {
    for (const [name, resolve] of messages) if (name in message) resolve(message);
  });
  const next = <T>(name: string) => new Promise<T>((resolve) => messages.set(name, resolve as (value: unknown) => void));
  const ready = next('ready');
  await ready;
  while ((await liveSubscribers(gateway.url)) < subscribers) await new Promise((resolve) => setTimeout(resolve, 50));
  // Idle for a moment so that what connecting allocated and freed has been collected.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const perSubscriber = (rssOf(gateway.child.pid!) - rssBefore) / subscribers;
  const report = next<{ delays: number[]; delaysByStatus: Record<string, number[]>; malformed: number; closedEarly: number; cpuSeconds: number }>('delays');
  crowd.send({ until: subscribers * 3 });
  const cpuBefore = processSeconds(gateway.child.pid!);
  await post(gateway.url, account.apiKey, 'mutation ($input: SendSmsInput!) { sendSms(input: $input) { message { id } } }', {
    input: { message: 'Fan me out', recipients: take(1) },
  });
  const { delays, delaysByStatus, malformed, closedEarly, cpuSeconds } = await report;
  const cpuPerUpdate = ((processSeconds(gateway.child.pid!) - cpuBefore) * 1e6) / (subscribers * 3);
  say(
    `- ${f0(subscribers)} subscribers of one account, one connection each: ${f0(perSubscriber / 1024)} KB of gateway RSS per idle subscriber; a message's 3 updates (QUEUED, SENT, DELIVERED) reached ${f0(delays.length)} of ${f0(subscribers * 3)} (malformed ${malformed}, closed ${closedEarly}); from occurredAt: p50 ${f0(percentile(delays, 50))} ms, p95 ${f0(percentile(delays, 95))} ms, max ${f0(Math.max(...delays))} ms (p95 by update: ${Object.entries(delaysByStatus).map(([status, d]) => `${status} ${f0(percentile(d, 95))}`).join(', ')}); gateway CPU ${f1(cpuPerUpdate)} µs per update and subscriber (the subscribers' process: ${f1((cpuSeconds * 1e6) / (subscribers * 3))} µs)`,
  );
  if (subscribers >= 10_000) {
    const p95 = percentile(delays, 95);
    const all = delays.length === subscribers * 3 && malformed === 0;
    targets.push({ what: `2a. ${f0(subscribers)} subscribers: every one receives each update`, measured: all ? 'yes' : `${delays.length} of ${subscribers * 3}`, target: 'all', met: all });
    targets.push({ what: '2b. p95 from occurredAt, ms', measured: f0(p95), target: '<= 300', met: p95 <= 300 });
    targets.push({ what: '2c. gateway RSS per idle subscriber, KB', measured: f0(perSubscriber / 1024), target: '<= 25', met: perSubscriber / 1024 <= 25 });
  }
  await new Promise((resolve) => crowd.on('exit', resolve));
  while ((await liveSubscribers(gateway.url)) > 0) await new Promise((resolve) => setTimeout(resolve, 50));
}

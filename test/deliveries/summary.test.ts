import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlOf } from '../../src/db/client.ts';
import { COUNT_BY_PROVIDER, TIMELINE } from '../../src/deliveries/summary.ts';
import { FINAL_STATUSES } from '../../src/deliveries/status.ts';
import { Collector, gql, gqlData, wsClient } from '../support/client.ts';
import { DeliverySummary, DeliveryUpdated, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const FATES = ['+255712345671', '+255712345678', '+255712345679', '+255712345677'];
const isFinal = (status: string) => (FINAL_STATUSES as readonly string[]).includes(status);

describe('deliverySummary: what a dashboard starts from', () => {
  let gateway: TestGateway;

  beforeAll(async () => {
    gateway = await startGateway();
  });
  afterAll(() => gateway.stop());

  /** Sends `recipients` and waits until each delivery has its final status. */
  async function sendAndSettle(apiKey: string, accountId: string, recipients: string[]) {
    const watcher = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated);
    await gateway.subscribersLive(accountId);
    const sent = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'hello', recipients } });
    await watcher.until((items) => items.filter((u) => isFinal(u.deliveryUpdated.delivery.status)).length === recipients.length, 'final statuses');
    watcher.dispose();
    return sent;
  }

  it('counts by status and provider, charts the changes, and names the cursor that follows on from it', async () => {
    const { apiKey, accountId } = await gateway.account();
    await sendAndSettle(apiKey, accountId, FATES);

    const { deliverySummary: summary } = await gqlData(gateway.graphqlUrl, apiKey, DeliverySummary, { timeline: { bucketSeconds: 1 } });
    expect(Date.parse(summary.until) - Date.parse(summary.since)).toBe(3_600_000);
    const byStatus = Object.fromEntries(summary.byStatus.map((c) => [c.status, c.count]));
    expect(byStatus).toEqual({ DELIVERED: 1, FAILED: 1, EXPIRED: 1, REJECTED: 1 });
    expect(summary.byProvider.filter((c) => c.provider === 'sandbox').map((c) => [c.status, c.count]).sort()).toEqual([
      ['DELIVERED', 1],
      ['EXPIRED', 1],
      ['FAILED', 1],
      ['REJECTED', 1],
    ]);
    // Every change: 4 acceptances, 3 taken by the sandbox, 4 final statuses, in one-second intervals.
    const changes: Record<string, number> = {};
    for (const b of summary.timeline) {
      changes[b.status] = (changes[b.status] ?? 0) + b.count;
      expect(new Date(b.start).getUTCMilliseconds()).toBe(0);
    }
    expect(changes).toEqual({ QUEUED: 4, SENT: 3, DELIVERED: 1, FAILED: 1, EXPIRED: 1, REJECTED: 1 });

    // After its cursor come exactly the changes it does not count.
    const after = new Collector(wsClient(gateway.wsUrl, apiKey), DeliveryUpdated, { after: summary.cursor });
    const next = await gqlData(gateway.graphqlUrl, apiKey, SendSms, { input: { message: 'again', recipients: ['+255712345672'] } });
    const items = await after.until((list) => list.some((u) => u.deliveryUpdated.delivery.status === 'DELIVERED'), 'the new delivery');
    after.dispose();
    expect(items.map((u) => [u.deliveryUpdated.messageId, u.deliveryUpdated.delivery.status])).toEqual([
      [next.sendSms.message.id, 'QUEUED'],
      [next.sendSms.message.id, 'SENT'],
      [next.sendSms.message.id, 'DELIVERED'],
    ]);
  });

  it('leaves out what was accepted before `since`, and reads only the range it covers', async () => {
    const { apiKey, accountId } = await gateway.account();
    await sendAndSettle(apiKey, accountId, ['+255712345671']);
    const sql = sqlOf(gateway.app.services.db);
    // That one moves to two hours ago, and 20,000 copies of it to two days ago.
    await sql.query(
      `INSERT INTO deliveries
       SELECT (jsonb_populate_record(d, jsonb_build_object('id', gen_random_uuid(), 'created_at', now() - interval '2 days' + g * interval '1 ms'))).*
       FROM deliveries d, generate_series(1, 20000) g WHERE d.account_id = $1`,
      [accountId],
    );
    await sql.query(`UPDATE deliveries SET created_at = now() - interval '2 hours' WHERE message_id = (SELECT message_id FROM deliveries WHERE account_id = $1 LIMIT 1) AND created_at > now() - interval '1 day'`, [accountId]);
    await sql.query('ANALYZE deliveries');
    await sendAndSettle(apiKey, accountId, ['+255712345678']);

    const { deliverySummary: summary } = await gqlData(gateway.graphqlUrl, apiKey, DeliverySummary, {});
    expect(summary.byStatus).toEqual([{ status: 'FAILED', count: 1 }]);
    const day = await gqlData(gateway.graphqlUrl, apiKey, DeliverySummary, { since: new Date(Date.now() - 86_000_000).toISOString() });
    expect(day.deliverySummary.byStatus.map((c) => [c.status, c.count]).sort()).toEqual([
      ['DELIVERED', 1],
      ['FAILED', 1],
    ]);

    // The plans read the account's index from `since` on: the old rows are not visited.
    const since = new Date(Date.now() - 3_600_000);
    for (const [text, values] of [
      [COUNT_BY_PROVIDER.text, [accountId, since]],
      [TIMELINE.text, [accountId, since, 60, FINAL_STATUSES]],
    ] as const) {
      const [row] = await sql.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, values);
      const scans = flatten(row!['QUERY PLAN'][0]!.Plan).filter((n) => n['Relation Name'] === 'deliveries');
      expect(scans.length).toBeGreaterThan(0);
      expect(scans.map((n) => n['Node Type'])).not.toContain('Seq Scan');
      expect(scans.reduce((sum, n) => sum + n['Actual Rows'], 0)).toBeLessThan(10);
    }
  });

  it('refuses a range it would not bound, changing nothing', async () => {
    const { apiKey } = await gateway.account();
    const codeOf = async (variables: Parameters<typeof gql<unknown, object>>[3]) =>
      (await gql(gateway.graphqlUrl, apiKey, DeliverySummary, variables as never)).errors?.[0]?.extensions?.code;
    const now = Date.now();
    expect(await codeOf({ since: new Date(now - 25 * 3_600_000).toISOString() })).toBe('BAD_USER_INPUT');
    expect(await codeOf({ since: new Date(now - 600_000).toISOString(), timeline: { since: new Date(now - 700_000).toISOString() } })).toBe('BAD_USER_INPUT');
    expect(await codeOf({ timeline: { bucketSeconds: 0 } })).toBe('BAD_USER_INPUT');
    expect(await codeOf({ since: new Date(now - 7_200_000).toISOString(), timeline: { bucketSeconds: 1 } })).toBe('BAD_USER_INPUT');
  });
});

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; 'Actual Rows': number; Plans?: PlanNode[] };
const flatten = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(flatten)];

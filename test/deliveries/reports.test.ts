import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COUNTED_STATUSES } from '../../src/deliveries/status-counts.ts';
import { reportPageStatement, type ReportFilter } from '../../src/deliveries/reports.ts';
import { gqlData } from '../support/client.ts';
import { DeliveryReports, ReportCount, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const FINAL = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];

async function untilNoneOf(gateway: TestGateway, key: string, statuses: string[]) {
  for (;;) {
    const counts = await Promise.all(
      statuses.map((status) => gqlData(gateway.graphqlUrl, key, ReportCount, { filter: { status: status as never } })),
    );
    if (counts.every((c) => c.deliveryReports.totalCount === 0)) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('delivery reports over a long history', () => {
  let gateway: TestGateway;
  let key: string;
  let accountId: string;
  let sql: pg.Pool;

  beforeAll(async () => {
    gateway = await startGateway({ REPORT_COUNT_CAP: '3' });
    ({ apiKey: key, accountId } = await gateway.account({ credit: '10' }));
    sql = new pg.Pool({ connectionString: gateway.databaseUrl, max: 2 });
  });
  afterAll(async () => {
    await sql.end();
    await gateway.stop();
  });

  it('counts by status exactly, from counts kept with every change, as the rows are', async () => {
    // Every sandbox fate (1 delivered, 7 rejected, 8 failed, 9 expired), and one scheduled for later.
    const now = await gqlData(gateway.graphqlUrl, key, SendSms, {
      input: { message: 'Fates', recipients: ['+255712000001', '+255712000007', '+255712000008', '+255712000009', '+255712000011'] },
    });
    await gqlData(gateway.graphqlUrl, key, SendSms, {
      input: { message: 'Later', recipients: ['+255712000021', '+255712000022'], scheduleTime: new Date(Date.now() + 3_600_000).toISOString() },
    });
    expect(now.sendSms.message.recipientCount).toBe(5);
    await untilNoneOf(gateway, key, ['QUEUED', 'SENT']);

    const { rows } = await sql.query<{ status: string; n: number }>(
      'SELECT status::text, count(*)::int AS n FROM deliveries WHERE account_id = $1 GROUP BY status',
      [accountId],
    );
    const inRows = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    expect(inRows).toEqual({ DELIVERED: 2, REJECTED: 1, FAILED: 1, EXPIRED: 1, SCHEDULED: 2 });
    for (const status of COUNTED_STATUSES.filter((s) => s !== 'CANCELED')) {
      const read = await gqlData(gateway.graphqlUrl, key, ReportCount, { filter: { status } });
      expect(read.deliveryReports, status).toEqual({ totalCount: inRows[status] ?? 0, isTotalCountExact: true });
    }
    // No filter: exact beyond the cap of this gateway (3), being kept rather than counted.
    const all = await gqlData(gateway.graphqlUrl, key, ReportCount, {});
    expect(all.deliveryReports).toEqual({ totalCount: 7, isTotalCountExact: true });
    const finals = await gqlData(gateway.graphqlUrl, key, DeliveryReports, { first: 100 });
    expect(finals.deliveryReports.edges.filter((e) => FINAL.includes(e.node.status))).toHaveLength(5);
  });

  it('says when a count stopped at the cap, and is exact for a recipient or a message', async () => {
    const sent = await gqlData(gateway.graphqlUrl, key, SendSms, {
      input: { message: 'Capped', recipients: ['+255713000001', '+255713000002', '+255713000003', '+255713000004', '+255713000005'] },
    });
    const since = { startDate: new Date(Date.now() - 3_600_000).toISOString() };
    const dated = await gqlData(gateway.graphqlUrl, key, ReportCount, { filter: since });
    expect(dated.deliveryReports).toEqual({ totalCount: 3, isTotalCountExact: false });
    const byMessage = await gqlData(gateway.graphqlUrl, key, ReportCount, { filter: { messageId: sent.sendSms.message.id } });
    expect(byMessage.deliveryReports).toEqual({ totalCount: 5, isTotalCountExact: true });
    const byRecipient = await gqlData(gateway.graphqlUrl, key, ReportCount, { filter: { recipient: '+255713000004' } });
    expect(byRecipient.deliveryReports).toEqual({ totalCount: 1, isTotalCountExact: true });
    // The pages themselves are whole, whatever the count says.
    const page = await gqlData(gateway.graphqlUrl, key, DeliveryReports, { filter: since, first: 100 });
    expect(page.deliveryReports.edges.length).toBe(12);
  });

  it('reads every filter from an index in the order of the report, without sorting', async () => {
    const after = { createdAt: new Date(), id: '00000000-0000-0000-0000-000000000000' };
    const filters: ReportFilter[] = [
      {},
      { status: 'DELIVERED' },
      { recipient: '+255712000001' },
      { senderId: 'SMSGateway' },
      { messageId: '00000000-0000-0000-0000-000000000001' },
      { startDate: new Date(Date.now() - 86_400_000), endDate: new Date() },
      { status: 'FAILED', startDate: new Date(Date.now() - 86_400_000) },
    ];
    const client = await sql.connect();
    try {
      // Told that scans and sorts cost the earth, the planner still uses one where no index serves.
      await client.query('SET enable_seqscan = off; SET enable_sort = off; SET enable_bitmapscan = off');
      for (const filter of filters) {
        for (const position of [undefined, after]) {
          const { statement, values } = reportPageStatement(accountId, filter, 101, position);
          const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${statement.text}`, values);
          const plan = JSON.stringify(rows[0]['QUERY PLAN']);
          expect(plan, JSON.stringify(filter)).not.toMatch(/"Seq Scan"|"Sort"|"Incremental Sort"/);
          expect(plan, JSON.stringify(filter)).toMatch(/"Index (Only )?Scan"/);
        }
      }
    } finally {
      client.release();
    }
  });
});

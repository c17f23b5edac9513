import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../src/deliveries/event-log.ts';
import { maintainHistory } from '../../src/deliveries/retention.ts';
import { Collector, gql, gqlData, wsClient } from '../support/client.ts';
import { DeliveryReports, DeliveryUpdated, MessageById, ReportCount, SendSms } from '../support/documents.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const DAY = 86_400_000;
const POLICY = { eventRetentionDays: 30, messageRetentionDays: 365 };
const dayName = (time: number) => new Date(time).toISOString().slice(0, 10).replaceAll('-', '');

describe('history kept for a window, then removed by the day', () => {
  let gateway: TestGateway;
  let key: string;
  let accountId: string;
  let sql: pg.Pool;
  let messageId: string;

  const exists = async (table: string) => (await sql.query('SELECT to_regclass($1) AS t', [table])).rows[0].t !== null;
  const lastSeq = async () =>
    Number((await sql.query('SELECT last_seq FROM account_event_seqs WHERE account_id = $1', [accountId])).rows[0].last_seq);

  beforeAll(async () => {
    gateway = await startGateway({ SANDBOX_DELIVERY_DELAY_MS: '0' });
    ({ apiKey: key, accountId } = await gateway.account({ credit: '10' }));
    sql = new pg.Pool({ connectionString: gateway.databaseUrl, max: 2 });
    const sent = await gqlData(gateway.graphqlUrl, key, SendSms, { input: { message: 'Kept a while', recipients: ['+255712345671', '+255712345678'] } });
    messageId = sent.sendSms.message.id;
    for (;;) {
      const read = await gqlData(gateway.graphqlUrl, key, MessageById, { id: messageId });
      if (read.message!.status === 'PARTIALLY_DELIVERED') break;
      await new Promise((resolve) => setImmediate(resolve));
    }
  });
  afterAll(async () => {
    await sql.end();
    await gateway.stop();
  });

  it("writes each day's events and attempts into that day's partition", async () => {
    const { rows } = await sql.query<{ t: string }>('SELECT DISTINCT tableoid::regclass::text AS t FROM delivery_events WHERE account_id = $1', [accountId]);
    expect(rows.map((r) => r.t)).toEqual([`delivery_events_p${dayName(Date.now())}`]);
    for (let d = 0; d <= 3; d++) expect(await exists(`delivery_attempts_p${dayName(Date.now() + d * DAY)}`)).toBe(true);
  });

  it('removes rows left in the default partition once their day has left the window', async () => {
    // A row from before partitioning (the migration puts those in the default partition).
    const old = new Date(Date.now() - 100 * DAY);
    const [delivery] = (await sql.query('SELECT id FROM deliveries WHERE account_id = $1 LIMIT 1', [accountId])).rows;
    await sql.query(
      `INSERT INTO delivery_events (account_id, seq, message_id, delivery_id, status, message_status, occurred_at)
       SELECT $1, 0, message_id, id, status, 'QUEUED', $3 FROM deliveries WHERE id = $2`,
      [accountId, delivery.id, old],
    );
    const run = await maintainHistory(gateway.app.services.db, POLICY);
    expect(run!.rowsRemoved).toBe(1);
    expect(run!.dropped).toEqual([]);
    expect(Number((await sql.query('SELECT count(*) FROM delivery_events_default')).rows[0].count)).toBe(0);
  });

  it('drops whole partitions past the window; the newest events replay; an older cursor is CURSOR_EXPIRED', async () => {
    const before = await lastSeq();
    expect(before).toBe(6); // QUEUED, SENT and a final status for each of the two
    const later = Date.now() + 35 * DAY;
    const run = await maintainHistory(gateway.app.services.db, POLICY, new Date(later));
    const today = dayName(Date.now());
    expect(run!.dropped).toEqual(expect.arrayContaining([`delivery_events_p${today}`, `delivery_attempts_p${today}`]));
    expect(await exists(`delivery_events_p${today}`)).toBe(false);
    expect(await exists(`delivery_events_p${dayName(later)}`)).toBe(true);
    // Nothing was deleted row by row: the deliveries themselves are kept longer.
    expect(Number((await sql.query('SELECT count(*) FROM delivery_events WHERE account_id = $1', [accountId])).rows[0].count)).toBe(0);
    const reports = await gqlData(gateway.graphqlUrl, key, ReportCount, {});
    expect(reports.deliveryReports.totalCount).toBe(2);

    // Two changes 35 days on, as the event log records them, in that day's partition.
    await sql.query(
      `WITH next AS (UPDATE account_event_seqs SET last_seq = last_seq + 2 WHERE account_id = $1 RETURNING last_seq)
       INSERT INTO delivery_events (account_id, seq, message_id, delivery_id, status, message_status, occurred_at)
       SELECT d.account_id, next.last_seq - 2 + row_number() OVER (ORDER BY d.id), d.message_id, d.id, d.status, 'PARTIALLY_DELIVERED', $2
       FROM deliveries d, next WHERE d.account_id = $1`,
      [accountId, new Date(later)],
    );
    const client = wsClient(gateway.wsUrl, key);
    const expired = new Collector(client, DeliveryUpdated, { after: encodeCursor(3n) });
    await expect(expired.until(() => false, 'an error')).rejects.toThrow(/CURSOR_EXPIRED/);
    const resumed = new Collector(client, DeliveryUpdated, { after: encodeCursor(BigInt(before)) });
    const items = await resumed.until((list) => list.length === 2, 'the two newer changes');
    expect(items.map((u) => u.deliveryUpdated.cursor)).toEqual([encodeCursor(7n), encodeCursor(8n)]);
    expect(new Set(items.map((u) => u.deliveryUpdated.occurredAt))).toEqual(new Set([new Date(later).toISOString()]));
    resumed.dispose();
    await client.dispose();
  });

  it('removes final messages and their deliveries after their own, longer window, and their counts with them', async () => {
    const run = await maintainHistory(gateway.app.services.db, POLICY, new Date(Date.now() + 400 * DAY));
    expect(run!.messagesRemoved).toBe(1);
    const gone = await gql(gateway.graphqlUrl, key, MessageById, { id: messageId });
    expect(gone.errors?.[0]?.extensions?.code).toBe('MESSAGE_NOT_FOUND');
    expect((await gqlData(gateway.graphqlUrl, key, ReportCount, {})).deliveryReports).toEqual({ totalCount: 0, isTotalCountExact: true });
    expect((await gqlData(gateway.graphqlUrl, key, DeliveryReports, {})).deliveryReports.edges).toEqual([]);
    // The money side stays.
    const { rows } = await sql.query('SELECT count(*)::int AS n FROM ledger_entries WHERE account_id = $1', [accountId]);
    expect(rows[0].n).toBeGreaterThan(0);
  });
});

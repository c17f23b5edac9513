import { sqlOf, type Db } from '../db/client.ts';
import type { Delivery, DeliveryStatus } from '../db/sql.ts';
import { COUNT_COLUMNS, COUNTED_STATUSES } from './status-counts.ts';
import { DELIVERY_COLUMNS, reviveDelivery } from './records.ts';

/** What deliveryReports can be asked for, already read (an E.164 number, a message's row id). */
export type ReportFilter = {
  status?: DeliveryStatus | null;
  startDate?: Date | null;
  endDate?: Date | null;
  recipient?: string | null;
  senderId?: string | null;
  messageId?: string | null;
};

export type ReportPosition = { createdAt: Date; id: string };

export type ReportCount = { count: number; exact: boolean };

type Condition = { key: string; sql: (n: number) => string; value: unknown };

/**
 * The filter as SQL conditions on `deliveries d`. Each filter has an index that starts with it
 * and ends in the report's order (created_at DESC, id DESC), so a page is read from one index
 * range, at any depth, without sorting (see migration 20261202100000).
 */
function conditionsOf(accountId: string, filter: ReportFilter): Condition[] {
  const list: Condition[] = [{ key: 'a', sql: (n) => `d.account_id = $${n}`, value: accountId }];
  if (filter.messageId) list.push({ key: 'm', sql: (n) => `d.message_id = $${n}`, value: filter.messageId });
  if (filter.recipient) list.push({ key: 'r', sql: (n) => `d.recipient = $${n}`, value: filter.recipient });
  if (filter.senderId) list.push({ key: 'i', sql: (n) => `d.sender_id = $${n}`, value: filter.senderId });
  if (filter.status) list.push({ key: 's', sql: (n) => `d.status = $${n}::"DeliveryStatus"`, value: filter.status });
  if (filter.startDate) list.push({ key: 'f', sql: (n) => `d.created_at >= $${n}`, value: filter.startDate });
  if (filter.endDate) list.push({ key: 't', sql: (n) => `d.created_at < $${n}`, value: filter.endDate });
  return list;
}

function whereOf(conditions: Condition[]): { key: string; where: string; values: unknown[] } {
  return {
    key: conditions.map((c) => c.key).join(''),
    where: conditions.map((c, i) => c.sql(i + 1)).join(' AND '),
    values: conditions.map((c) => c.value),
  };
}

/** The statement of reportPage (exported so that its plans can be checked). */
export function reportPageStatement(accountId: string, filter: ReportFilter, take: number, after?: ReportPosition) {
  const conditions = conditionsOf(accountId, filter);
  if (after) {
    conditions.push({ key: 'k', sql: (n) => `(d.created_at, d.id) < ($${n}::timestamptz, $${n + 1}::uuid)`, value: after.createdAt });
  }
  const { key, where, values } = whereOf(conditions);
  if (after) values.push(after.id);
  return {
    statement: {
      name: `reports-page-${key}`,
      text: `SELECT ${DELIVERY_COLUMNS} FROM deliveries d WHERE ${where} ORDER BY d.created_at DESC, d.id DESC LIMIT $${values.length + 1}`,
    },
    values: [...values, take],
  };
}

/** Up to `take` deliveries matching `filter`, newest first, after `after` (keyset). */
export async function reportPage(
  db: Db,
  accountId: string,
  filter: ReportFilter,
  take: number,
  after?: ReportPosition,
): Promise<Delivery[]> {
  const { statement, values } = reportPageStatement(accountId, filter, take, after);
  return (await sqlOf(db).query<object>(statement, values)).map(reviveDelivery);
}

const KEPT_COUNTS = {
  name: 'reports-kept-counts',
  text: `SELECT ${COUNTED_STATUSES.map((s, i) => `${COUNT_COLUMNS[i]}::text AS "${s}"`).join(', ')} FROM account_event_seqs WHERE account_id = $1`,
};

/**
 * How many deliveries match `filter`. With no filter or only a status, the kept counts: exact at
 * any size. With a message, a count over its deliveries (at most one request's recipients).
 * Otherwise a count that stops after `cap` index entries (100,000 by default, about 10 ms of
 * index reading where an exact count over an account's millions takes seconds) and then says it
 * is a lower bound.
 */
export async function reportCount(db: Db, accountId: string, filter: ReportFilter, countCap: number): Promise<ReportCount> {
  const sql = sqlOf(db);
  const onlyStatus = !filter.messageId && !filter.recipient && !filter.senderId && !filter.startDate && !filter.endDate;
  if (onlyStatus) {
    const [row] = await sql.query<Record<string, string>>(KEPT_COUNTS, [accountId]);
    if (!row) return { count: 0, exact: true };
    const statuses = filter.status ? [filter.status] : Object.keys(row);
    return { count: statuses.reduce((sum, status) => sum + Number(row[status] ?? 0), 0), exact: true };
  }
  const { key, where, values } = whereOf(conditionsOf(accountId, filter));
  // A message's deliveries are at most one request's recipients: counted exactly.
  const cap = filter.messageId ? undefined : countCap;
  const text =
    cap === undefined
      ? `SELECT count(*)::int AS n FROM deliveries d WHERE ${where}`
      : `SELECT count(*)::int AS n FROM (SELECT 1 FROM deliveries d WHERE ${where} LIMIT ${cap + 1}) capped`;
  const [row] = await sql.query<{ n: number }>({ name: `reports-count-${key}`, text }, values);
  const n = row?.n ?? 0;
  return cap !== undefined && n > cap ? { count: cap, exact: false } : { count: n, exact: true };
}

import type pg from 'pg';
import { sqlOf, type Db } from '../db/client.ts';
import type { SqlTransaction } from '../db/pg.ts';
import type { Logger } from '../logger.ts';
import { COUNT_COLUMNS, countsByStatus } from './status-counts.ts';

const DAY_MS = 86_400_000;
/** Days of partitions made ahead of time, so that a few days without maintenance lose nothing to the default partition. */
const DAYS_AHEAD = 3;
/** Final messages (with their deliveries) removed per statement, so no transaction holds many rows. */
const MESSAGE_BATCH = 1000;
/** Dropping a partition waits for the transactions writing to the table; past this it gives up until the next run. */
const LOCK_TIMEOUT = '5s';
const MAINTENANCE_LOCK = 7_112_025;

/** The tables kept for EVENT_RETENTION_DAYS, each in one partition per UTC day of a column. */
const PARTITIONED = [
  { table: 'delivery_events', column: 'occurred_at' },
  { table: 'delivery_attempts', column: 'delivery_created_at' },
] as const;
type Partitioned = (typeof PARTITIONED)[number];

export type RetentionPolicy = { eventRetentionDays: number; messageRetentionDays: number };
export type RetentionRun = { created: string[]; dropped: string[]; rowsRemoved: number; messagesRemoved: number };

const dayOf = (time: number) => Math.floor(time / DAY_MS) * DAY_MS;
const partitionName = (table: string, day: number) => `${table}_p${new Date(day).toISOString().slice(0, 10).replaceAll('-', '')}`;
const dayOfPartition = (name: string) => {
  const match = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  return match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : undefined;
};

/**
 * Makes the coming days' partitions and removes what is older than the policy keeps: event and
 * attempt partitions whose day has left the window are dropped whole (a partition's rows are
 * never deleted one by one), after the highest event number of each account in them is noted
 * (see expiredCursor); final messages and their deliveries older than their own, longer window
 * are deleted in batches. One gateway at a time does this (an advisory lock); `now` is a
 * parameter so that tests can move time.
 */
export async function maintainHistory(db: Db, policy: RetentionPolicy, now = new Date()): Promise<RetentionRun | undefined> {
  const client = await sqlOf(db).pool.connect();
  try {
    return await maintainHistoryOn(client, policy, now);
  } finally {
    client.release();
  }
}

/** maintainHistory on one connection (the one that holds the lock), outside any pool. */
export async function maintainHistoryOn(client: pg.ClientBase, policy: RetentionPolicy, now = new Date()): Promise<RetentionRun | undefined> {
  const sql = onOneConnection(client);
  const [row] = (await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [MAINTENANCE_LOCK])).rows;
  if (!row?.locked) return undefined;
  try {
    const run: RetentionRun = { created: [], dropped: [], rowsRemoved: 0, messagesRemoved: 0 };
    const today = dayOf(now.getTime());
    const cutoff = today - policy.eventRetentionDays * DAY_MS;
    for (const partitioned of PARTITIONED) {
      for (let d = 0; d <= DAYS_AHEAD; d++) {
        const created = await createPartition(sql, partitioned, today + d * DAY_MS);
        if (created) run.created.push(created);
      }
      run.dropped.push(...(await dropPartitionsBefore(sql, partitioned, cutoff)));
      run.rowsRemoved += await emptyDefaultBefore(sql, partitioned, cutoff);
    }
    run.messagesRemoved = await removeMessagesBefore(sql, today - policy.messageRetentionDays * DAY_MS);
    return run;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MAINTENANCE_LOCK]);
  }
}

type OneConnection = ReturnType<typeof onOneConnection>;

function onOneConnection(client: pg.ClientBase) {
  const query = async <R extends object>(text: string, values?: unknown[]) => (await client.query<R>(text, values)).rows;
  return {
    query,
    async transaction<T>(work: (tx: SqlTransaction) => Promise<T>): Promise<T> {
      await client.query('BEGIN');
      try {
        const result = await work({ query: (statement, values) => query(typeof statement === 'string' ? statement : statement.text, values as unknown[]) });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    },
  };
}

async function createPartition(sql: OneConnection, { table, column }: Partitioned, day: number): Promise<string | undefined> {
  const name = partitionName(table, day);
  const [exists] = await sql.query<{ found: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS found`, [name]);
  if (exists!.found) return undefined;
  const from = new Date(day).toISOString();
  const to = new Date(day + DAY_MS).toISOString();
  await sql.transaction(async (tx) => {
    await tx.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
    // Rows of that day in the default partition (written before its partition existed) move in first.
    await tx.query(`CREATE TABLE ${name} (LIKE ${table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
    await tx.query(
      `WITH moved AS (DELETE FROM ${table}_default WHERE ${column} >= $1 AND ${column} < $2 RETURNING *) INSERT INTO ${name} SELECT * FROM moved`,
      [from, to],
    );
    await tx.query(`ALTER TABLE ${table} ATTACH PARTITION ${name} FOR VALUES FROM ('${from}') TO ('${to}')`);
  });
  return name;
}

async function dropPartitionsBefore(sql: OneConnection, { table }: Partitioned, cutoff: number): Promise<string[]> {
  const partitions = await sql.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = $1::regclass ORDER BY c.relname`,
    [table],
  );
  const dropped: string[] = [];
  for (const { name } of partitions) {
    const day = dayOfPartition(name);
    if (day === undefined || day + DAY_MS > cutoff) continue;
    await sql.transaction(async (tx) => {
      await tx.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT}'`);
      if (table === 'delivery_events') await notePruned(tx, `SELECT account_id, max(seq) AS seq FROM ${name} GROUP BY account_id`);
      await tx.query(`DROP TABLE ${name}`);
    });
    dropped.push(name);
  }
  return dropped;
}

/** Rows left in the default partition (from before partitioning) leave with their day. */
async function emptyDefaultBefore(sql: OneConnection, { table, column }: Partitioned, cutoff: number): Promise<number> {
  const before = new Date(cutoff).toISOString();
  return sql.transaction(async (tx) => {
    if (table === 'delivery_events') {
      await notePruned(tx, `SELECT account_id, max(seq) AS seq FROM ${table}_default WHERE ${column} < '${before}' GROUP BY account_id`);
    }
    const rows = await tx.query<{ n: number }>(`WITH gone AS (DELETE FROM ${table}_default WHERE ${column} < $1 RETURNING 1) SELECT count(*)::int AS n FROM gone`, [
      before,
    ]);
    return rows[0]?.n ?? 0;
  });
}

async function notePruned(tx: SqlTransaction, removedSeqs: string): Promise<void> {
  await tx.query(
    `UPDATE account_event_seqs s SET pruned_through = GREATEST(s.pruned_through, r.seq)
     FROM (${removedSeqs}) r WHERE s.account_id = r.account_id`,
  );
}

/**
 * Deletes final messages created before `cutoff` with their deliveries (and the customers'
 * conversions of them), a batch at a time, and takes their deliveries out of the accounts' kept
 * counts. Ledger entries stay. A dispatch job
 * may still name one of them (a POLL job waiting to ask about a whole submission): the
 * dispatcher drops what is gone when it comes to it.
 */
async function removeMessagesBefore(sql: OneConnection, cutoff: number): Promise<number> {
  let removed = 0;
  for (;;) {
    const [row] = await sql.transaction((tx) =>
      tx.query<{ n: number }>(
        `WITH old AS (
           SELECT id FROM messages WHERE created_at < $1 AND status IN ('DELIVERED', 'PARTIALLY_DELIVERED', 'FAILED', 'CANCELED')
           ORDER BY created_at LIMIT ${MESSAGE_BATCH} FOR UPDATE SKIP LOCKED
         ), deliveries_gone AS (
           DELETE FROM deliveries d WHERE d.message_id IN (SELECT id FROM old) RETURNING d.id, d.account_id, d.status::text AS status
         ), conversions_gone AS (
           DELETE FROM delivery_conversions c WHERE c.delivery_id IN (SELECT id FROM deliveries_gone)
         ), counts AS (
           SELECT account_id, ${countsByStatus('status')}
           FROM deliveries_gone GROUP BY account_id
         ), counted AS (
           UPDATE account_event_seqs s SET ${COUNT_COLUMNS.map((c) => `${c} = s.${c} - counts.${c}`).join(', ')}
           FROM counts WHERE s.account_id = counts.account_id
         ), messages_gone AS (
           DELETE FROM messages WHERE id IN (SELECT id FROM old) RETURNING 1
         )
         SELECT count(*)::int AS n FROM messages_gone`,
        [new Date(cutoff)],
      ),
    );
    removed += row?.n ?? 0;
    if ((row?.n ?? 0) < MESSAGE_BATCH) return removed;
  }
}

/** True when events after `afterSeq` have been removed by retention: that cursor cannot resume. */
export async function expiredCursor(db: Db, accountId: string, afterSeq: bigint): Promise<boolean> {
  const [row] = await sqlOf(db).query<{ prunedThrough: string }>(
    { name: 'retention-pruned-through', text: `SELECT pruned_through::text AS "prunedThrough" FROM account_event_seqs WHERE account_id = $1` },
    [accountId],
  );
  return afterSeq < BigInt(row?.prunedThrough ?? 0);
}

/** Runs maintainHistory every `everyMs` from now on, logging what it did; returns the stop. */
export function scheduleHistoryMaintenance(db: Db, policy: RetentionPolicy, logger: Logger, everyMs = 3_600_000): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  const run = () => {
    running = maintainHistory(db, policy)
      .then((result) => {
        if (result && (result.created.length || result.dropped.length || result.rowsRemoved || result.messagesRemoved)) {
          logger.info(result, 'history maintenance: partitions made and removed');
        }
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'history maintenance failed; it runs again within the hour'));
  };
  const timer = setInterval(run, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}

import type pg from 'pg';

/**
 * Plain `pg` beneath the Prisma client, on the same pool. The hot paths (authentication,
 * acceptance, dispatch, the event log) use it: one statement per step, prepared once per
 * connection by name, no query compiler in between.
 */
export type Sql = {
  readonly pool: pg.Pool;
  /** Runs one statement; with a `name` it is prepared once per connection and reused. */
  query<R extends object>(statement: Statement, values?: readonly unknown[]): Promise<R[]>;
  /** Runs `work` in a transaction on one connection; rolls back when it throws. */
  transaction<T>(work: (tx: SqlTransaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
};

export type TransactionOptions = {
  /**
   * For transactions whose statements each touch a batch of rows found by primary key (a few
   * hundred out of tables of any size): the planner, seeing a table small enough, would scan or
   * hash all of it for every statement, or rescan the batch for every row it updates; told so,
   * it probes the key for each row of the batch, whatever the table's size.
   */
  byKey?: boolean;
};

const BEGIN = 'BEGIN';
const BEGIN_BY_KEY = 'BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off';

export type SqlTransaction = Pick<Sql, 'query'>;

/** SQL text, optionally named so that it is prepared once per connection. */
export type Statement = string | { name: string; text: string };

function config(statement: Statement, values: readonly unknown[] | undefined): pg.QueryConfig {
  return typeof statement === 'string'
    ? { text: statement, values: values as unknown[] }
    : { name: statement.name, text: statement.text, values: values as unknown[] };
}

async function run<R extends object>(client: pg.Pool | pg.PoolClient, statement: Statement, values?: readonly unknown[]): Promise<R[]> {
  const result = await client.query<R>(config(statement, values));
  return result.rows;
}

export function createSql(pool: pg.Pool): Sql {
  return {
    pool,
    query: (statement, values) => run(pool, statement, values),
    async transaction(work, options = {}) {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query(options.byKey ? BEGIN_BY_KEY : BEGIN);
        const result = await work({ query: (statement, values) => run(client, statement, values) });
        await client.query('COMMIT');
        return result;
      } catch (error) {
        // A connection that cannot even roll back is not given back to the pool.
        await client.query('ROLLBACK').catch(() => (broken = true));
        throw error;
      } finally {
        client.release(broken);
      }
    },
  };
}

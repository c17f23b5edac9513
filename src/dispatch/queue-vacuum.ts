import { sqlOf, type Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';

/** Job rows written (inserted, changed, deleted) between two vacuums of the queue. */
const WRITES_PER_VACUUM = 2_000;
const MIN_INTERVAL_MS = 1_000;
/** One instance vacuums at a time: the others skip their turn rather than queue behind it. */
const ADVISORY_LOCK = 0x5347_5151; // "SGQQ"

/**
 * Keeps the dispatch queue small. Every job is written a few times and deleted within seconds,
 * so the table is mostly dead rows unless they are removed as fast as they are made; autovacuum
 * visits a table at most once a minute (and is off on some servers, this project's own test
 * machines among them), by which time a claim walks past hundreds of thousands of them. A
 * vacuum of a table this small takes milliseconds.
 */
export class QueueVacuum {
  private writes = 0;
  private lastRun = 0;
  private running: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  note(rows: number): void {
    this.writes += rows;
  }

  maybeRun(): void {
    if (this.running || this.writes < WRITES_PER_VACUUM || Date.now() - this.lastRun < MIN_INTERVAL_MS) return;
    this.writes = 0;
    this.lastRun = Date.now();
    this.running = this.vacuum()
      .catch((error: unknown) => this.logger.warn({ err: error }, 'could not vacuum the dispatch queue'))
      .finally(() => (this.running = undefined));
  }

  /** Waits for a vacuum under way. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async vacuum(): Promise<void> {
    const client = await sqlOf(this.db).pool.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [ADVISORY_LOCK]);
      if (!rows[0]?.locked) return;
      try {
        await client.query('VACUUM dispatch_jobs');
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK]);
      }
    } finally {
      client.release();
    }
  }
}

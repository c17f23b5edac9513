import { sqlOf, type Db } from '../db/client.ts';
import type { Delivery, DispatchJobKind } from '../db/sql.ts';
import { DELIVERY_COLUMNS, MESSAGE_SNAPSHOT_COLUMNS, reviveDelivery, reviveMessage, type MessageSnapshot } from '../deliveries/records.ts';
import { isoFormatter } from '../shared/iso-dates.ts';

/**
 * A dispatch job: a group of deliveries acted on together. A SUBMIT job is one submission to a
 * provider, and its id is that submission's reference, stored before the submission is made and
 * the same on every retry of it. A POLL job holds the deliveries of a submission the provider
 * took, until their reports are in.
 */
export type Job = {
  id: string;
  kind: DispatchJobKind;
  /** Tries started, this one included (taking the job counts as one). */
  attempt: number;
  /** Since when the provider may hold this submission though its answer was lost (ask before resending). */
  unconfirmedSince: Date | null;
  /** When this worker took it (its lease runs from then). */
  heldSince: number;
  /** How many deliveries it named when it was taken. */
  size: number;
  /**
   * Set when the worker that held it before stopped without handing it back (it died): since
   * when that worker held it. What it was submitting may have reached the provider.
   */
  lapsedSince?: Date | null;
};

/** A delivery as the dispatcher works it: with its text, its message and whether it was tried before. */
export type DispatchDelivery = Delivery & {
  /** The text for this recipient (personalised, or the message's). */
  text: string;
  template: string;
  senderId: string;
  message: MessageSnapshot;
  /** Whether earlier tries left attempts on record (retries, failovers). */
  hasAttempts: boolean;
};

export type WorkItem = DispatchDelivery & { job: Job };

/** What a claim found: the deliveries still there, and the ids that are gone (removed by retention). */
export type Claimed = { items: WorkItem[]; gone: Array<{ job: Job; deliveryId: string }> };

/**
 * Claims due jobs for `leaseMs`, at most about `maxDeliveries` deliveries' worth, and reads
 * their deliveries, in one statement. SKIP LOCKED lets any number of dispatchers, in any number
 * of processes, claim side by side without taking the same job; a claim left behind by a
 * process that died lapses with its lease and is taken over. A job held is due again when its
 * lease ends (run_at moves with it), so the index walk for due work never passes over the jobs
 * being worked.
 */
const claimStatement = (name: string, which: string) => ({
  name,
  text: `
    WITH candidates AS (
      SELECT id, run_at, cardinality(delivery_ids) AS n FROM dispatch_jobs
      WHERE run_at <= now() AND (locked_until IS NULL OR locked_until < now()) AND ${which}
      ORDER BY run_at
      LIMIT $2
    ), within AS (
      SELECT id FROM (SELECT id, n, sum(n) OVER (ORDER BY run_at, id) AS running FROM candidates) c WHERE running - n < $4
    ), due AS (
      SELECT id, locked_by, locked_until FROM dispatch_jobs
      WHERE id = ANY(ARRAY(SELECT id FROM within)) AND (locked_until IS NULL OR locked_until < now())
      FOR UPDATE SKIP LOCKED
    ), claimed AS (
      UPDATE dispatch_jobs AS j
      SET locked_by = $1, locked_until = now() + $3 * interval '1 millisecond', run_at = now() + $3 * interval '1 millisecond',
        attempt = j.attempt + 1
      WHERE j.id = ANY(ARRAY(SELECT id FROM due))
      RETURNING j.id, j.kind, j.delivery_ids, j.attempt, j.unconfirmed_since
    )
    SELECT c.id AS "jobId", c.kind::text AS "jobKind", c.attempt AS "jobAttempt", c.unconfirmed_since AS "jobUnconfirmedSince",
      CASE WHEN due.locked_by IS NOT NULL THEN due.locked_until - $3 * interval '1 millisecond' END AS "jobLapsedSince",
      cardinality(c.delivery_ids) AS "jobSize", x.id AS "wantedId", w.*,
      -- A message's snapshot once, on the first of its deliveries in a row (they come together).
      CASE WHEN w."messageId" IS DISTINCT FROM lag(w."messageId") OVER (ORDER BY c.id, x.n)
        THEN (SELECT to_jsonb(y) FROM (SELECT ${MESSAGE_SNAPSHOT_COLUMNS} FROM messages m WHERE m.id = w."messageId") y) END AS message
    FROM claimed c JOIN due ON due.id = c.id CROSS JOIN LATERAL unnest(c.delivery_ids) WITH ORDINALITY AS x(id, n)
    LEFT JOIN LATERAL (
      SELECT ${DELIVERY_COLUMNS}, COALESCE(d.body, m.text) AS text, m.text AS template,
        EXISTS (SELECT 1 FROM delivery_attempts a WHERE a.delivery_id = d.id AND a.delivery_created_at = d.created_at) AS "hasAttempts"
      FROM deliveries d JOIN messages m ON m.id = d.message_id
      WHERE d.id = x.id
    ) w ON true
    ORDER BY c.id, x.n`,
});

/** Any work but that of the paced providers ($5), which waits for their turn (see claimPacedWork). */
const CLAIM = claimStatement('jobs-claim', `(paced_provider IS NULL OR paced_provider <> ALL($5::text[]))`);
/** A paced provider's work, one submission's worth and the job that fills it (see Dispatcher.runPaced). */
const CLAIM_PACED = claimStatement('jobs-claim-paced', `paced_provider = $5`);

type ClaimRow = Partial<DispatchDelivery> & {
  jobId: string;
  jobKind: DispatchJobKind;
  jobAttempt: number;
  jobUnconfirmedSince: Date | null;
  jobSize: number;
  jobLapsedSince: Date | null;
  wantedId: string;
};

export async function claimWork(db: Db, worker: string, maxDeliveries: number, leaseMs: number, pacedProviders: readonly string[] = []): Promise<Claimed> {
  return claimedFrom(await sqlOf(db).query<ClaimRow>(CLAIM, [worker, maxDeliveries, leaseMs, maxDeliveries, pacedProviders]));
}

/** Claims the work queued for the paced provider `provider` (see Dispatcher.runPaced), like claimWork. */
export async function claimPacedWork(db: Db, worker: string, provider: string, maxDeliveries: number, leaseMs: number): Promise<Claimed> {
  return claimedFrom(await sqlOf(db).query<ClaimRow>(CLAIM_PACED, [worker, maxDeliveries, leaseMs, maxDeliveries, provider]));
}

const PACED_WORK_WAITS = {
  name: 'jobs-paced-work-waits',
  text: `SELECT EXISTS (SELECT 1 FROM dispatch_jobs WHERE paced_provider = $1 AND run_at <= now()
    AND (locked_until IS NULL OR locked_until < now())) AS waits`,
};

/** Whether work for the paced provider `provider` is due and not held, without claiming it. */
export async function pacedWorkWaits(db: Db, provider: string): Promise<boolean> {
  const [row] = await sqlOf(db).query<{ waits: boolean }>(PACED_WORK_WAITS, [provider]);
  return row?.waits ?? false;
}

function claimedFrom(rows: ClaimRow[]): Claimed {
  const heldSince = Date.now();
  const jobs = new Map<string, Job>();
  const claimed: Claimed = { items: [], gone: [] };
  let message: MessageSnapshot | undefined;
  for (const { jobId, jobKind, jobAttempt, jobUnconfirmedSince, jobSize, jobLapsedSince, wantedId, ...delivery } of rows) {
    let job = jobs.get(jobId);
    if (!job) {
      job = { id: jobId, kind: jobKind, attempt: jobAttempt, unconfirmedSince: jobUnconfirmedSince, heldSince, size: jobSize, lapsedSince: jobLapsedSince };
      jobs.set(jobId, job);
    }
    if (!delivery.id) {
      claimed.gone.push({ job, deliveryId: wantedId });
      continue;
    }
    const item = reviveDelivery(delivery) as WorkItem;
    if (item.message) message = reviveMessage(item.message);
    item.message = message!;
    item.job = job;
    claimed.items.push(item);
  }
  return claimed;
}

type JobChange = { take: Set<string>; release?: { runAt: Date; attempt: number; unconfirmedSince: Date | null } };
type CreatedJob = {
  id: string;
  /** The deliveries, by the job each comes from. */
  parts: Array<{ from: string; ids: string[] }>;
  kind: DispatchJobKind;
  runAt: Date;
  attempt: number;
  unconfirmedSince: Date | null;
  /** Kept by this worker (it works the job itself when due) rather than left for any to claim. */
  leased: boolean;
  /** The paced provider whose queue it waits in (see Dispatcher.runPaced). */
  pacedProvider?: string | null;
};

/**
 * Changes to the jobs this worker holds, decided by one step of work and applied with its
 * other writes (see apply_job_changes in the migrations): deliveries leave their job when their
 * part in it is done; a job is handed back with what is left in it (a retry); new jobs come
 * from held ones (a submission's POLL job, a failover's new submission).
 */
export class JobChanges {
  private readonly changes = new Map<string, JobChange>();
  private readonly created: CreatedJob[] = [];

  private changeOf(job: Job): JobChange {
    let change = this.changes.get(job.id);
    if (!change) this.changes.set(job.id, (change = { take: new Set() }));
    return change;
  }

  /** `deliveryId` is done with `job` (finished, or moving to another job). */
  take(job: Job, deliveryId: string): void {
    this.changeOf(job).take.add(deliveryId);
  }

  /** Hands `job` back with the deliveries left in it, to be tried at `runAt`; the latest time asked wins. */
  release(job: Job, runAt: Date, attempt: number, unconfirmedSince: Date | null = null): void {
    const change = this.changeOf(job);
    if (!change.release || change.release.runAt < runAt) change.release = { runAt, attempt, unconfirmedSince };
  }

  /**
   * A new job of `items` (each leaving the job it is in), made of those whose job is still this
   * worker's: the others belong to whoever took their job over.
   */
  create(items: ReadonlyArray<{ id: string; job: Job }>, job: Omit<CreatedJob, 'parts'>): void {
    if (items.length === 0) return;
    const parts = new Map<string, string[]>();
    for (const item of items) {
      this.take(item.job, item.id);
      let ids = parts.get(item.job.id);
      if (!ids) parts.set(item.job.id, (ids = []));
      ids.push(item.id);
    }
    this.created.push({ ...job, parts: [...parts].map(([from, ids]) => ({ from, ids })) });
  }

  get isEmpty(): boolean {
    return this.changes.size === 0 && this.created.length === 0;
  }

  /** The jobs this step touches. */
  get jobIds(): string[] {
    return [...this.changes.keys()];
  }

  /** The arguments of apply_job_changes and record_known_changes: changes, then created jobs. */
  toJson(): [string, string] {
    const t = isoFormatter();
    const changes = [...this.changes].map(([id, { take, release }]) => ({
      id,
      take: [...take],
      release: Boolean(release),
      runAt: release ? t.iso(release.runAt) : null,
      attempt: release?.attempt ?? null,
      unconfirmedSince: release?.unconfirmedSince ? t.iso(release.unconfirmedSince) : null,
    }));
    const created = this.created.map((job) => ({
      ...job,
      runAt: t.iso(job.runAt),
      unconfirmedSince: job.unconfirmedSince ? t.iso(job.unconfirmedSince) : null,
    }));
    return [JSON.stringify(changes), JSON.stringify(created)];
  }
}

const APPLY_CHANGES = { name: 'jobs-apply-changes', text: `SELECT apply_job_changes($1, $2::json, $3::json, $4) AS made` };

/** Applies changes to this worker's jobs on their own (no status changes with them); returns the jobs made. */
export async function applyJobChanges(db: Db, worker: string, changes: JobChanges, leaseMs: number): Promise<Set<string>> {
  if (changes.isEmpty) return new Set();
  const [jobChanges, created] = changes.toJson();
  const [row] = await sqlOf(db).query<{ made: string[] }>(APPLY_CHANGES, [worker, jobChanges, created, leaseMs]);
  return new Set(row?.made ?? []);
}

const MARK_SUBMITTING = {
  name: 'jobs-mark-submitting',
  text: `UPDATE dispatch_jobs SET unconfirmed_since = now() WHERE id = ANY($2::uuid[]) AND locked_by = $1`,
};

/**
 * Notes that the submissions of `jobIds` are about to be made, for a provider that can neither
 * be asked what it took nor recognise a retry: should this worker die before recording the
 * outcome, whoever takes the jobs over knows they may have been sent, and does not send them again.
 */
export async function markSubmitting(db: Db, worker: string, jobIds: string[]): Promise<void> {
  if (jobIds.length > 0) await sqlOf(db).query(MARK_SUBMITTING, [worker, jobIds]);
}

const EXTEND = {
  name: 'jobs-extend',
  text: `UPDATE dispatch_jobs SET locked_until = now() + $3 * interval '1 millisecond', run_at = now() + $3 * interval '1 millisecond'
    WHERE id = ANY($2::uuid[]) AND locked_by = $1
    RETURNING id`,
};

/**
 * Renews this worker's claim on `jobIds` and returns the ones it still holds: a claim that
 * lapsed and was taken over belongs to the other worker now.
 */
export async function extendClaims(db: Db, worker: string, jobIds: string[], leaseMs: number): Promise<Set<string>> {
  if (jobIds.length === 0) return new Set();
  const rows = await sqlOf(db).query<{ id: string }>(EXTEND, [worker, jobIds, leaseMs]);
  return new Set(rows.map((row) => row.id));
}

/**
 * Puts back every job this worker still holds (on shutdown: another worker takes them at once),
 * without counting the claim as a try.
 */
export async function releaseClaims(db: Db, worker: string): Promise<number> {
  const rows = await sqlOf(db).query<{ id: string }>(
    `UPDATE dispatch_jobs SET locked_by = NULL, locked_until = NULL, run_at = now(), attempt = greatest(attempt - 1, 0)
     WHERE locked_by = $1 RETURNING id`,
    [worker],
  );
  return rows.length;
}

/** Deliveries waiting in the queue, and how long the oldest due job not being worked has waited. */
export async function queueStats(db: Db): Promise<{ depth: number; oldestDueAgeSeconds: number }> {
  const [row] = await sqlOf(db).query<{ depth: number; age: number | null }>(
    `SELECT coalesce(sum(cardinality(delivery_ids)), 0)::int AS depth,
       EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE run_at <= now() AND locked_by IS NULL))::float8 AS age
     FROM dispatch_jobs`,
  );
  return { depth: row?.depth ?? 0, oldestDueAgeSeconds: Math.max(0, row?.age ?? 0) };
}

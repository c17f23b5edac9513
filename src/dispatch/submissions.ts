import type { ProviderRegistry } from '../providers/registry.ts';
import { groupBy } from '../shared/group-by.ts';
import { newId } from '../shared/ids.ts';
import { JobChanges, type Job, type WorkItem } from './jobs.ts';

/** One request to one provider: deliveries of one sender, under one reference. */
export type Submission = { reference: string; providerName: string; senderId: string; items: WorkItem[] };

export type SubmissionPlan = {
  submissions: Submission[];
  /** Jobs to make before submitting: the submissions that gather several jobs, or part of one, under a reference of their own. */
  regroup: JobChanges;
  /** The jobs `regroup` makes. */
  regrouped: string[];
};

/** The provider a delivery is to go to now. */
export function providerOf(item: WorkItem): string {
  return item.route[item.routeIndex] ?? '';
}

/**
 * Cuts SUBMIT work into submissions. A job tried before goes again whole, under its own id, so
 * the provider sees the same submission. Deliveries never tried, for the same provider and
 * sender, go together up to what one submission carries, whatever jobs they came in: when a
 * provider's pace is the limit, what waits for it leaves in as few requests as it allows. When
 * such a submission is not exactly one job and the provider keeps references, it is made a job
 * of its own first (its id is the reference), so a retry after a crash carries the same one.
 */
export function planSubmissions(items: WorkItem[], providers: ProviderRegistry, now: number): SubmissionPlan {
  const plan: SubmissionPlan = { submissions: [], regroup: new JobChanges(), regrouped: [] };
  const byJob = groupBy(items, (item) => item.job.id);
  const fresh = new Map<string, WorkItem[]>();
  for (const jobItems of byJob.values()) {
    const job = jobItems[0]!.job;
    const tried = job.attempt > 1 || job.unconfirmedSince !== null;
    for (const [key, part] of groupBy(jobItems, (item) => `${providerOf(item)}\u0000${item.senderId}`)) {
      if (tried) plan.submissions.push(submission(job.id, part));
      else fresh.set(key, [...(fresh.get(key) ?? []), ...part]);
    }
  }
  for (const waiting of fresh.values()) {
    const provider = providers.get(providerOf(waiting[0]!));
    const size = provider?.capabilities.maxBatchSize ?? waiting.length;
    for (let i = 0; i < waiting.length; i += size) {
      const chunk = waiting.slice(i, i + size);
      const jobs = [...new Set(chunk.map((item) => item.job))];
      const whole = jobs.length === 1 && chunk.length === jobs[0]!.size;
      if (whole) plan.submissions.push(submission(jobs[0]!.id, chunk));
      else if (!provider?.capabilities.recognisesRetries) plan.submissions.push(submission(newId(), chunk));
      else plan.submissions.push(submission(regroup(plan, chunk, jobs, now), chunk));
    }
  }
  return plan;
}

function submission(reference: string, items: WorkItem[]): Submission {
  return { reference, providerName: providerOf(items[0]!), senderId: items[0]!.senderId, items };
}

/** Moves `chunk` into a new job held by this worker, and returns its id. */
function regroup(plan: SubmissionPlan, chunk: WorkItem[], from: Job[], now: number): string {
  const job: Job = { id: newId(), kind: 'SUBMIT', attempt: 1, unconfirmedSince: null, heldSince: now, size: chunk.length };
  for (const item of chunk) plan.regroup.take(item.job, item.id);
  plan.regroup.create(from, {
    id: job.id,
    kind: 'SUBMIT',
    deliveryIds: chunk.map((item) => item.id),
    runAt: new Date(now),
    attempt: 1,
    unconfirmedSince: null,
    leased: true,
  });
  for (const item of chunk) item.job = job;
  plan.regrouped.push(job.id);
  return job.id;
}

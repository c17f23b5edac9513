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
 * the provider sees the same submission. Jobs never tried, for the same provider and sender, go
 * together up to what one submission carries, whatever jobs they came in: when a provider's
 * pace is the limit, what waits for it leaves in as few requests as it allows. A job is never
 * shared by two submissions (each ends with its job handed back or done, alone); one too big
 * for one submission, and a submission of several jobs to a provider that keeps references,
 * are first made jobs of their own (the job's id is the reference), so a retry after a crash
 * carries the same one.
 */
export function planSubmissions(items: WorkItem[], providers: ProviderRegistry, now: number): SubmissionPlan {
  const plan: SubmissionPlan = { submissions: [], regroup: new JobChanges(), regrouped: [] };
  const fresh = new Map<string, WorkItem[][]>();
  for (const jobItems of groupBy(items, (item) => item.job.id).values()) {
    const job = jobItems[0]!.job;
    const tried = job.attempt > 1 || job.unconfirmedSince !== null;
    const parts = [...groupBy(jobItems, (item) => `${providerOf(item)}\u0000${item.senderId}`)];
    if (tried && parts.length === 1) {
      plan.submissions.push(submission(job.id, jobItems));
      continue;
    }
    for (const [key, part] of parts) {
      // A job of several providers or senders (from before an upgrade) is cut up like a fresh one.
      if (!fresh.has(key)) fresh.set(key, []);
      fresh.get(key)!.push(part);
    }
  }
  for (const groups of fresh.values()) {
    const provider = providers.get(providerOf(groups[0]![0]!));
    const size = provider?.capabilities.maxBatchSize ?? Infinity;
    // Whole jobs, first come first packed; a job bigger than a submission is cut into its own.
    let chunk: WorkItem[][] = [];
    let filled = 0;
    const flush = () => {
      if (chunk.length > 0) addSubmission(plan, chunk, provider?.capabilities.recognisesRetries ?? false, now);
      chunk = [];
      filled = 0;
    };
    for (const group of groups) {
      if (group.length > size) {
        for (let i = 0; i < group.length; i += size) addSubmission(plan, [group.slice(i, i + size)], true, now);
        continue;
      }
      if (filled + group.length > size) flush();
      chunk.push(group);
      filled += group.length;
    }
    flush();
  }
  return plan;
}

/**
 * One submission of whole jobs' deliveries (or part of one, cut for size): under its job's id
 * when it is exactly one job; otherwise under a new job of its own when `keepsReference`, or a
 * new reference the provider does not keep.
 */
function addSubmission(plan: SubmissionPlan, groups: WorkItem[][], keepsReference: boolean, now: number): void {
  const items = groups.flat();
  const job = items[0]!.job;
  const whole = groups.length === 1 && items.length === job.size;
  if (whole) plan.submissions.push(submission(job.id, items));
  else if (!keepsReference && groups.every((group) => group.length === group[0]!.job.size)) plan.submissions.push(submission(newId(), items));
  else plan.submissions.push(submission(regroup(plan, items, now), items));
}

function submission(reference: string, items: WorkItem[]): Submission {
  return { reference, providerName: providerOf(items[0]!), senderId: items[0]!.senderId, items };
}

/** Moves `items` into a new job held by this worker, and returns its id. */
function regroup(plan: SubmissionPlan, items: WorkItem[], now: number): string {
  const job: Job = { id: newId(), kind: 'SUBMIT', attempt: 1, unconfirmedSince: null, heldSince: now, size: items.length };
  plan.regroup.create(items, { id: job.id, kind: 'SUBMIT', runAt: new Date(now), attempt: 1, unconfirmedSince: null, leased: true });
  for (const item of items) item.job = job;
  plan.regrouped.push(job.id);
  return job.id;
}

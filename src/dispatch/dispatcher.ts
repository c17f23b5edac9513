import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { sqlOf, type Db } from '../db/client.ts';
import type { SqlTransaction } from '../db/pg.ts';
import { applyEarlyReports } from '../callbacks/ingest.ts';
import type { Publisher } from '../deliveries/publish.ts';
import type { DeliveryUpdate } from '../deliveries/records.ts';
import { recordTransitions, type AppliedTransition, type AttemptRecord, type KnownDelivery, type Transition } from '../deliveries/transitions.ts';
import { copyDelivery } from '../deliveries/records.ts';
import { isFinal } from '../deliveries/status.ts';
import type { Logger } from '../logger.ts';
import type { ProviderHealth } from '../providers/health.ts';
import type { ProviderRegistry } from '../providers/registry.ts';
import type { FoundSubmission, OutboundSms, SmsProvider, StatusQuery, SubmitOutcome } from '../providers/types.ts';
import { newId } from '../shared/ids.ts';
import { groupBy } from '../shared/group-by.ts';
import { PACED } from '../providers/http.ts';
import { applyJobChanges, claimPacedWork, claimWork, extendClaims, pacedWorkWaits, JobChanges, markSubmitting, releaseClaims, type Job, type WorkItem } from './jobs.ts';
import { QueueVacuum } from './queue-vacuum.ts';
import { Signal } from '../shared/signal.ts';
import { Throttled } from './throttle.ts';
import { refundUndelivered } from './refunds.ts';
import { pollDelayMs, retryDelayMs, type RetryPolicy } from './retry-policy.ts';
import { planSubmissions, providerOf, type Submission } from './submissions.ts';

const TIDY_EVERY_MS = 10 * 60_000;
/** Tries at asking a provider about a lost answer after the last submission, before giving up on knowing. */
const MAX_UNANSWERED_CHECKS = 5;
/** Tries at recording the outcome of work done (about 6 s in all). */
const COMMIT_ATTEMPTS = 6;
/**
 * Work handed over and not yet taken, beyond which acceptance leaves new work in the queue for any
 * dispatcher: what is handed over waits for its lease after a crash, what is queued does not.
 */
const MAX_HANDED_OVER = 5_000;
/** Longest a dispatcher waits for a paced provider's turn at a time while work waits for it (other dispatchers may get it first). */
const MAX_PACED_TURN_WAIT_MS = 10_000;

export type DispatcherOptions = {
  batchSize: number;
  /** Rounds worked at once: the next batch is taken while earlier ones are submitted and recorded. */
  concurrency?: number;
  /** While rounds are under way, new work is gathered this long before it is taken. */
  gatherMs?: number;
  leaseMs: number;
  pollIntervalMs: number;
  retry: RetryPolicy;
  callbackUrlFor?: (provider: string) => string | undefined;
  /** Overrides the first poll delay of providers without callbacks. */
  reportPollAfterMs?: number;
  /** Overrides how long a provider that calls back has before it is asked (a lost callback). */
  callbackSafetyPollMs?: number;
};

/**
 * Hands due deliveries to their providers and polls for reports, from the durable job table:
 * what is accepted is sent once and its fate recorded, whatever crashes in between.
 *
 * Work reaches it two ways. Acceptance on this process writes its jobs already held by this
 * dispatcher and hands them over in memory (handOver), so a send goes straight through with no
 * claim and no read; everything else (retries, scheduled messages, reports to ask for, work of a
 * process that died, or that was left for any dispatcher) is claimed from the queue.
 */
export class Dispatcher {
  readonly worker = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private pendingWake = false;
  /** Work handed over, a job's deliveries together, in the order handed over. */
  private handedOver: WorkItem[][] = [];
  private handedOverCount = 0;
  private readonly pollTimers = new Set<NodeJS.Timeout>();
  private readonly vacuum: QueueVacuum;
  private readonly pacedProviders: string[];
  private readonly pacedWork = new Signal();
  private pacedLoops: Array<Promise<void>> = [];

  constructor(
    private readonly deps: {
      db: Db;
      providers: ProviderRegistry;
      logger: Logger;
      health?: ProviderHealth;
      /**
       * Waits for a paced provider's turn for a submission, at most `maxWaitMs` (see throttle.ts
       * takeSubmission); absent: none.
       */
      submissionTurn?: (provider: SmsProvider, maxWaitMs?: number) => Promise<void> | undefined;
      /** Whether a provider is paced: its work waits in a queue of its own (see runPaced). */
      paced?: (provider: string) => boolean;
    } & Publisher,
    private readonly options: DispatcherOptions,
  ) {
    this.vacuum = new QueueVacuum(deps.db, deps.logger);
    this.pacedProviders = deps.paced ? deps.providers.enabledNames().filter(deps.paced) : [];
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    this.pacedLoops = this.pacedProviders.map((name) => this.runPaced(name));
  }

  /** Runs a round now instead of at the next interval (after new work was queued). */
  wake(): void {
    this.pendingWake = true;
    this.wakeUp?.();
  }

  /** Looks at the paced providers' queues now (work for one of them was queued). */
  wakePaced(): void {
    this.pacedWork.notify();
  }

  /** Whether acceptance may write new work as held by this dispatcher and hand it over (see handOver). */
  get takesHandOver(): boolean {
    return this.running && this.handedOverCount < MAX_HANDED_OVER;
  }

  get leaseMs(): number {
    return this.options.leaseMs;
  }

  /** Work whose jobs were written as held by this dispatcher, handed over as committed. */
  handOver(items: WorkItem[]): void {
    for (const job of groupBy(items, (item) => item.job.id).values()) this.handedOver.push(job);
    this.handedOverCount += items.length;
    this.wake();
  }

  /** Whole jobs handed over, about `max` deliveries' worth (at least one job). */
  private takeHandedOver(max: number): WorkItem[] {
    const taken: WorkItem[] = [];
    while (this.handedOver.length > 0 && (taken.length === 0 || taken.length + this.handedOver[0]!.length <= max)) {
      taken.push(...this.handedOver.shift()!);
    }
    this.handedOverCount -= taken.length;
    return taken;
  }

  /** Finishes the rounds under way, then gives back any claim still held, so other workers take them at once. */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.running = false;
    this.wakeUp?.();
    this.pacedWork.notify();
    await Promise.all([this.loop, ...this.pacedLoops]);
    this.loop = undefined;
    this.pacedLoops = [];
    for (const timer of this.pollTimers) clearTimeout(timer);
    this.pollTimers.clear();
    this.handedOver = [];
    this.handedOverCount = 0;
    await releaseClaims(this.deps.db, this.worker).catch((error: unknown) => {
      this.deps.logger.warn({ err: error }, 'could not release dispatch claims; they lapse with their lease');
    });
  }

  private async run(): Promise<void> {
    let tidiedAt = 0;
    let claimedAt = 0;
    const rounds = new Set<Promise<void>>();
    const concurrency = this.options.concurrency ?? 1;
    const { batchSize } = this.options;
    while (this.running) {
      if (rounds.size >= concurrency) {
        await Promise.race(rounds);
        continue;
      }
      const items = this.takeHandedOver(batchSize);
      let queueFull = false;
      // The queue is read whenever nothing was handed over, and at least every poll interval
      // while work keeps being handed over, so that nothing waiting there is held back by it.
      if (items.length < batchSize && (items.length === 0 || Date.now() - claimedAt >= this.options.pollIntervalMs)) {
        claimedAt = Date.now();
        try {
          const room = batchSize - items.length;
          const found = await claimWork(this.deps.db, this.worker, room, this.options.leaseMs, this.pacedProviders);
          queueFull = found.items.length + found.gone.length >= room;
          items.push(...found.items);
          if (found.gone.length > 0) void this.forget(found.gone);
          if (Date.now() - tidiedAt > TIDY_EVERY_MS) {
            tidiedAt = Date.now();
            await this.tidy();
          }
        } catch (error) {
          this.deps.logger.error({ err: error }, 'dispatch round failed');
        }
      }
      if (items.length > 0) {
        const round: Promise<void> = this.work(items)
          .catch((error: unknown) => this.deps.logger.error({ err: error }, 'dispatch round failed'))
          .finally(() => rounds.delete(round));
        rounds.add(round);
      }
      this.vacuum.maybeRun();
      if (this.handedOver.length === 0 && !queueFull && this.running) await this.idle(rounds.size > 0);
    }
    // Every round runs to its end: a claim still being submitted must not be handed back.
    await Promise.allSettled([...rounds]);
    await this.vacuum.idle();
  }

  /**
   * A paced provider's queue, worked by whichever dispatcher has the provider's turn (shared
   * through Redis by every process): when work waits there, it waits for the turn first and
   * claims after, all of what waits up to one submission's worth. So whatever waited leaves
   * together, however many processes accepted it, rather than a share of it with each. A turn
   * whose work another dispatcher took first goes unused.
   */
  private async runPaced(name: string): Promise<void> {
    const provider = this.deps.providers.get(name)!;
    const size = provider.capabilities.maxBatchSize;
    while (this.running) {
      try {
        if (!(await pacedWorkWaits(this.deps.db, name))) {
          await this.pacedWork.wait(this.options.pollIntervalMs);
          continue;
        }
        if ((await this.turnOf(provider, MAX_PACED_TURN_WAIT_MS)) !== undefined || !this.running) continue;
        const found = await claimPacedWork(this.deps.db, this.worker, name, size, this.options.leaseMs);
        if (found.gone.length > 0) void this.forget(found.gone);
        const { going, left } = fill(found.items, size);
        if (going.length > 0) await this.work(going, name);
        if (left.length > 0) {
          // After the work: a job cut in two gave its part that went to a job of its own first.
          const back = new JobChanges();
          for (const job of new Set(left.map((item) => item.job))) back.release(job, new Date(), job.attempt - 1, job.unconfirmedSince);
          await applyJobChanges(this.deps.db, this.worker, back, this.options.leaseMs);
        }
      } catch (error) {
        this.deps.logger.error({ err: error, provider: name }, 'paced dispatch round failed');
        await this.pacedWork.wait(this.options.pollIntervalMs);
      }
    }
  }

  /** Reports kept for a submission that never came (a provider's mistake, or another gateway's) go after a week. */
  private async tidy(): Promise<void> {
    await this.deps.db.$executeRaw`DELETE FROM early_reports WHERE received_at < now() - interval '7 days'`;
  }

  /**
   * Waits for the next poll, or for new work. New work is gathered for `gatherMs` first when
   * rounds are still under way: under a steady stream of sends that makes a few rounds of many
   * deliveries rather than many rounds of a few, each costing a transaction. A lone request
   * waits for nothing.
   */
  private idle(busy: boolean): Promise<void> {
    const gatherMs = busy ? (this.options.gatherMs ?? 0) : 0;
    if (this.pendingWake) {
      this.pendingWake = false;
      return gatherMs > 0 ? new Promise((resolve) => setTimeout(resolve, gatherMs)) : Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.options.pollIntervalMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        this.pendingWake = false;
        if (gatherMs > 0 && this.running) setTimeout(done, gatherMs);
        else done();
      };
    });
  }

  /** Deliveries a job named that are gone (retention removed them): they leave it. */
  private async forget(gone: Array<{ job: Job; deliveryId: string }>): Promise<void> {
    const changes = new JobChanges();
    for (const { job, deliveryId } of gone) changes.take(job, deliveryId);
    await applyJobChanges(this.deps.db, this.worker, changes, this.options.leaseMs).catch((error: unknown) =>
      this.deps.logger.warn({ err: error }, 'could not drop gone deliveries from their jobs'),
    );
  }

  /** Works claimed items; `turnTaken`: a paced provider whose turn for one submission this worker has already. */
  private async work(items: WorkItem[], turnTaken?: string): Promise<void> {
    const live: WorkItem[] = [];
    const changes = new JobChanges();
    for (const item of items) {
      // A delivery that already moved on (a report came first, or it was cancelled) has nothing left to do here.
      if (isFinal(item.status) || (item.job.kind === 'SUBMIT' && item.status === 'SENT')) changes.take(item.job, item.id);
      else live.push(item);
    }
    const submits = live.filter((item) => item.job.kind === 'SUBMIT');
    const polls = live.filter((item) => item.job.kind === 'POLL');
    const plan = planSubmissions(submits, this.deps.providers, Date.now());
    let submissions = plan.submissions;
    if (!plan.regroup.isEmpty) submissions = await this.regroup(plan.regroup, plan.regrouped, submissions);
    const byProvider = groupBy(submissions, (s) => s.providerName);
    const pollGroups = [...groupBy(polls, (item) => providerOf(item)).values()];
    // Every group runs to its end before the round does, whatever happens to the others: a round
    // that ended early would let shutdown hand back claims still being submitted.
    const results = await Promise.allSettled([
      ...[...byProvider].map(([name, list]) => this.submitAll(list, name === turnTaken)),
      ...pollGroups.map((group) => this.poll(group)),
      applyJobChanges(this.deps.db, this.worker, changes, this.options.leaseMs),
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Makes the jobs of submissions that gather work of several jobs; only those this worker holds afterwards go on. */
  private async regroup(changes: JobChanges, regrouped: string[], submissions: Submission[]): Promise<Submission[]> {
    const made = await applyJobChanges(this.deps.db, this.worker, changes, this.options.leaseMs);
    return submissions.filter((s) => !regrouped.includes(s.items[0]!.job.id) || made.has(s.items[0]!.job.id));
  }

  /** One provider's submissions of a round, one after another (its pace is per request). */
  private async submitAll(submissions: Submission[], turnTaken: boolean): Promise<void> {
    for (const [i, submission] of submissions.entries()) await this.submit(submission, turnTaken && i === 0);
  }

  private async submit({ reference, providerName, senderId, items: claimed }: Submission, turnTaken = false): Promise<void> {
    const provider = providerName ? this.deps.providers.get(providerName) : undefined;
    if (!provider) {
      const reason = `provider ${providerName || '(none)'} is not enabled`;
      await this.settleFailures(claimed, providerName || 'none', claimed.map((item) => failure(item.id, 'PROVIDER_DISABLED', reason, true)));
      return;
    }
    let items = await this.skipOutOfCredit(provider, claimed);
    items = await this.afterLapse(provider, items);
    if (items.some((item) => item.job.unconfirmedSince)) items = await this.reconcile(provider, items);
    // A slow provider can outlast a claim: submit only what this worker still holds, for long
    // enough to submit it and record the outcome, never what another worker has taken over.
    const held = await this.stillHeld(items);
    if (held.length === 0) return;
    const outbound: OutboundSms[] = held.map((item) => ({
      deliveryId: item.id,
      messageId: item.messageId,
      recipient: item.recipient,
      text: item.text,
      ...(item.variables ? { template: { text: item.template, variables: item.variables as Record<string, string> } } : {}),
    }));
    const turn = turnTaken ? undefined : await this.turnOf(provider);
    if (turn !== undefined) {
      await this.settleFailures(held, provider.name, held.map((item) => ({ ...failure(item.id, PACED, 'waiting for the provider\'s pace', false), retryAfterMs: turn })));
      return;
    }
    if (!provider.capabilities.recognisesRetries && !provider.findSubmitted) {
      await markSubmitting(this.deps.db, this.worker, [...new Set(held.map((item) => item.job.id))]);
    }
    let outcomes: SubmitOutcome[];
    try {
      outcomes = await provider.send({ reference, senderId, items: outbound, callbackUrl: this.options.callbackUrlFor?.(provider.name) });
    } catch (error) {
      this.deps.logger.warn({ err: error, provider: provider.name, count: held.length }, 'submission failed');
      outcomes = held.map((item) => failure(item.id, 'PROVIDER_UNAVAILABLE', String((error as Error).message ?? error), false));
    }
    // Before the outcome is recorded, so that whoever sees a failure sees the provider's state too.
    await this.noteHealth(provider.name, outcomes);
    await this.settle(provider, held, outcomes);
  }

  /** Undefined when a submission to `provider` may go now; otherwise how long until its turn. */
  private async turnOf(provider: SmsProvider, maxWaitMs?: number): Promise<number | undefined> {
    try {
      await this.deps.submissionTurn?.(provider, maxWaitMs);
      return undefined;
    } catch (error) {
      if (error instanceof Throttled) return error.retryInMs;
      throw error;
    }
  }

  /**
   * A provider that said our account there has no credit is skipped (until its balance is read
   * above the threshold again) by the deliveries that have another provider to go to; the
   * others try it all the same, since its answer is all they have left.
   */
  private async skipOutOfCredit(provider: SmsProvider, items: WorkItem[]): Promise<WorkItem[]> {
    if (!this.deps.providers.isOutOfCredit(provider.name)) return items;
    const skipped = items.filter((item) => item.routeIndex + 1 < item.route.length);
    if (skipped.length === 0) return items;
    const reason = `${provider.name} said our account there has no credit left; skipped until its balance is read above the threshold`;
    await this.settleFailures(skipped, provider.name, skipped.map((item) => failure(item.id, 'PROVIDER_OUT_OF_CREDIT', reason, true)));
    return items.filter((item) => !skipped.includes(item));
  }

  /**
   * Work taken over from a worker that died holding it may have been submitted. A provider that
   * can be asked is asked first (see reconcile). One that recognises a retry gets it again under
   * the same reference. One that can do neither was told nothing unless the submission was
   * marked as under way (markSubmitting): what was marked is not sent again, the rest is.
   */
  private async afterLapse(provider: SmsProvider, items: WorkItem[]): Promise<WorkItem[]> {
    if (provider.findSubmitted) {
      for (const { job } of items) if (job.lapsedSince && !job.unconfirmedSince) job.unconfirmedSince = job.lapsedSince;
      return items;
    }
    if (provider.capabilities.recognisesRetries) return items;
    const marked = items.filter((item) => item.job.unconfirmedSince);
    if (marked.length === 0) return items;
    const reason = 'the gateway stopped while this was being submitted';
    await this.settleFailures(marked, provider.name, marked.map((item) => ({ ...failure(item.id, 'PROVIDER_UNCONFIRMED', reason, false), ambiguous: true as const })));
    return items.filter((item) => !item.job.unconfirmedSince);
  }

  /**
   * Before resending a submission whose answer was lost, asks the provider whether it took it:
   * what it holds is recorded as sent, without a second send; what it does not hold is sent
   * again (or, after its last try, moves on). When the provider cannot be asked now, nothing is
   * sent and the question waits for the next try. Returns what is to be sent now.
   */
  private async reconcile(provider: SmsProvider, items: WorkItem[]): Promise<WorkItem[]> {
    const unconfirmed = items.filter((item) => item.job.unconfirmedSince);
    const fresh = items.filter((item) => !item.job.unconfirmedSince);
    if (!provider.findSubmitted) return items;
    let found;
    try {
      found = await provider.findSubmitted(
        unconfirmed.map((item) => ({
          deliveryId: item.id,
          messageId: item.messageId,
          recipient: item.recipient,
          text: item.text,
          senderId: item.senderId,
          reference: item.job.id,
          since: item.job.unconfirmedSince!,
        })),
      );
    } catch (error) {
      const reason = `could not ask ${provider.name} whether it took the submission: ${(error as Error).message}`;
      this.deps.logger.warn({ provider: provider.name, count: unconfirmed.length, reason }, 'unconfirmed submission not checked; asked again later');
      const outcomes = unconfirmed.map((item) => ({ ...failure(item.id, 'PROVIDER_UNCONFIRMED', reason, false), ambiguous: true as const }));
      await this.settleFailures(unconfirmed, provider.name, outcomes);
      return fresh;
    }
    const recipients = new Map(unconfirmed.map((item) => [item.id, item.recipient]));
    const candidates = found.map((f) => ({ ...f, recipient: recipients.get(f.deliveryId) ?? '' }));
    const claimedElsewhere = await submissionsOfOthers(this.deps.db, provider.name, candidates);
    const byId = new Map<string, FoundSubmission>();
    for (const f of candidates) if (!claimedElsewhere.has(f) && !byId.has(f.deliveryId)) byId.set(f.deliveryId, f);
    const taken = unconfirmed.filter((item) => byId.has(item.id));
    if (taken.length > 0) {
      this.deps.logger.info({ provider: provider.name, count: taken.length }, 'the provider had taken submissions whose answers were lost; not sent again');
      await this.settle(
        provider,
        taken,
        taken.map((item) => ({ deliveryId: item.id, outcome: 'accepted' as const, providerMessageId: byId.get(item.id)!.providerMessageId, raw: byId.get(item.id)!.raw })),
      );
    }
    const absent = unconfirmed.filter((item) => !byId.has(item.id));
    const exhausted = absent.filter((item) => item.job.attempt > this.options.retry.maxSubmitAttempts);
    if (exhausted.length > 0) {
      const reason = `${provider.name} gave no answer to the last try and has no record of it`;
      await this.settleFailures(exhausted, provider.name, exhausted.map((item) => failure(item.id, 'PROVIDER_NO_ANSWER', reason, true)));
    }
    return [...fresh, ...absent.filter((item) => !exhausted.includes(item))];
  }

  /** A claim younger than a third of its lease is certainly still this worker's; an older one is renewed first. */
  private async stillHeld(items: WorkItem[]): Promise<WorkItem[]> {
    const now = Date.now();
    if (items.every((item) => now - item.job.heldSince < this.options.leaseMs / 3)) return items;
    const jobs = [...new Set(items.map((item) => item.job))];
    const held = await extendClaims(this.deps.db, this.worker, jobs.map((job) => job.id), this.options.leaseMs);
    for (const job of jobs) job.heldSince = now;
    return items.filter((item) => held.has(item.job.id));
  }

  /** A provider is unwell when a whole submission failed for a reason of its own, not of one recipient. */
  private async noteHealth(provider: string, outcomes: SubmitOutcome[]): Promise<void> {
    const failure = outcomes.find((o) => o.outcome === 'failed' && (!o.permanent || /AUTH|KEY|CREDENTIAL|TOKEN/i.test(o.errorCode)));
    const allFailed = outcomes.every((o) => o.outcome === 'failed');
    const error = failure && allFailed && failure.outcome === 'failed' ? `${failure.errorCode}: ${failure.errorMessage}` : null;
    await this.deps.health?.record(provider, error).catch((err: unknown) => this.deps.logger.warn({ err }, 'could not record provider health'));
  }

  private async settle(provider: SmsProvider, items: WorkItem[], outcomes: SubmitOutcome[]): Promise<void> {
    const byId = new Map(outcomes.map((o) => [o.deliveryId, o]));
    const accepted: WorkItem[] = [];
    const failed: Array<Extract<SubmitOutcome, { outcome: 'failed' }>> = [];
    for (const item of items) {
      const outcome = byId.get(item.id) ?? failure(item.id, 'NO_ANSWER', 'the provider did not answer for this recipient', false);
      if (outcome.outcome === 'accepted') accepted.push(item);
      else failed.push(outcome);
    }
    if (accepted.length > 0) await this.recordAccepted(provider, accepted, byId);
    if (failed.length > 0) await this.settleFailures(items.filter((i) => byId.get(i.id)?.outcome !== 'accepted'), provider.name, failed);
  }

  /**
   * The deliveries a provider took become SENT and move to a POLL job: polling providers are
   * asked for their report; for those that call back it is the safety net, in case the callback
   * never comes (a poll finding the delivery final just ends). A poll due soon stays with this
   * dispatcher, which asks itself at that time.
   */
  private async recordAccepted(provider: SmsProvider, accepted: WorkItem[], outcomes: Map<string, SubmitOutcome>): Promise<void> {
    const changes = new JobChanges();
    const transitions: Transition[] = [];
    for (const item of accepted) {
      const outcome = outcomes.get(item.id) as Extract<SubmitOutcome, { outcome: 'accepted' }>;
      transitions.push({ deliveryId: item.id, status: 'SENT', provider: provider.name, providerMessageId: outcome.providerMessageId, raw: outcome.raw });
    }
    const pollAfter = this.firstPollAfter(provider);
    const now = Date.now();
    const reported = pollAfter === 0 ? await this.reportsNow(provider, accepted, outcomes, now) : [];
    transitions.push(...reported);
    const finished = new Set(reported.filter((r) => isFinal(r.status)).map((r) => r.deliveryId));
    const waiting = finished.size === 0 ? accepted : accepted.filter((item) => !finished.has(item.id));
    for (const item of accepted) if (finished.has(item.id)) changes.take(item.job, item.id);
    const kept = pollAfter <= this.options.leaseMs / 4;
    const pollJob: Job = { id: newId(), kind: 'POLL', attempt: 1, unconfirmedSince: null, heldSince: now, size: waiting.length };
    changes.create(waiting, { id: pollJob.id, kind: 'POLL', runAt: new Date(now + pollAfter), attempt: 0, unconfirmedSince: null, leased: kept });
    const updates = await this.commit(transitions, changes, [], undefined, knownOf(accepted));
    if (kept) this.pollLater(pollJob, waiting, updates, pollAfter);
    if (provider.capabilities.reports === 'callback') {
      await applyEarlyReports(this.deps, provider.name, {
        providerMessageIds: [...new Set(transitions.map((t) => t.providerMessageId!))],
        deliveryIds: accepted.map((item) => item.id),
      });
    }
  }

  /**
   * A report due as soon as the submission is taken (the sandbox without a delay) is asked for
   * at once and recorded with it: one write of each delivery, not two. A report that cannot be
   * had now is asked for by the poll, as any other.
   */
  private async reportsNow(provider: SmsProvider, sent: WorkItem[], outcomes: Map<string, SubmitOutcome>, now: number): Promise<Transition[]> {
    if (provider.capabilities.reports !== 'poll') return [];
    const sentAt = new Date(now);
    const queries: StatusQuery[] = sent.map((item) => ({
      deliveryId: item.id,
      providerMessageId: (outcomes.get(item.id) as Extract<SubmitOutcome, { outcome: 'accepted' }>).providerMessageId,
      recipient: item.recipient,
      sentAt,
    }));
    try {
      return (await provider.fetchStatus(queries)).map((report) => ({ ...report, provider: provider.name }));
    } catch {
      return [];
    }
  }

  /** Asks for the reports of deliveries just sent, `afterMs` from now, as the holder of their POLL job. */
  private pollLater(job: Job, sent: WorkItem[], updates: DeliveryUpdate[], afterMs: number): void {
    const after = new Map(updates.map((u) => [u.delivery.id, u.delivery]));
    const items = sent.flatMap((item): WorkItem[] => {
      const now = after.get(item.id);
      if (!now || now.status !== 'SENT') return [];
      return [Object.assign(copyDelivery(now), { text: item.text, template: item.template, senderId: item.senderId, message: now.message!, hasAttempts: item.hasAttempts, job })];
    });
    if (items.length === 0) return;
    const timer = setTimeout(() => {
      this.pollTimers.delete(timer);
      if (this.running) this.handOver(items);
    }, afterMs);
    this.pollTimers.add(timer);
  }

  /**
   * A transient failure is retried with backoff; after too many, or on a permanent failure,
   * the delivery moves to the next provider of its route; with none left it ends failed and
   * its price is refunded.
   */
  private async settleFailures(
    items: WorkItem[],
    providerName: string,
    failures: Array<Extract<SubmitOutcome, { outcome: 'failed' }>>,
  ): Promise<void> {
    const byId = new Map(failures.map((f) => [f.deliveryId, f]));
    const changes = new JobChanges();
    const attempts: AttemptRecord[] = [];
    const transitions: Transition[] = [];
    const failover: WorkItem[] = [];
    const unconfirmed: WorkItem[] = [];
    const now = Date.now();
    const policy = this.options.retry;
    const provider = this.deps.providers.get(providerName);
    // One draw per submission: its deliveries come back together, as the same submission.
    const jitter = Math.random();
    if (failures.some((f) => f.outOfCredit) && this.deps.providers.markOutOfCredit(providerName)) {
      this.deps.logger.warn({ provider: providerName }, 'the provider says our account there has no credit: routing skips it until its balance is read above the threshold');
    }
    for (const item of items) {
      const f = byId.get(item.id);
      if (!f) continue;
      const { job } = item;
      if (f.errorCode === PACED) {
        // Held back by our own pacing: nothing was sent, so it is not a try.
        changes.release(job, new Date(now + (f.retryAfterMs ?? 1000)), job.attempt - 1, job.unconfirmedSince);
        continue;
      }
      const retryAt = () => new Date(now + retryDelayMs(policy, job.attempt, f.retryAfterMs, () => jitter));
      const record = (outcome: string) =>
        attempts.push({ deliveryId: item.id, provider: providerName, outcome, errorCode: f.errorCode, errorMessage: f.errorMessage });
      if (f.ambiguous && provider?.findSubmitted && job.attempt <= policy.maxSubmitAttempts + MAX_UNANSWERED_CHECKS) {
        // The provider may hold it: it is asked before anything is sent again, also after the last try.
        record('RETRY');
        changes.release(job, retryAt(), job.attempt, job.unconfirmedSince ?? new Date(job.heldSince));
      } else if (f.ambiguous && !provider?.capabilities.recognisesRetries) {
        // It may have been sent, and the provider can neither be asked nor tell a retry: it is
        // not sent again, and the delivery says so.
        record('UNCONFIRMED');
        unconfirmed.push(item);
        transitions.push({
          deliveryId: item.id,
          status: 'SENT',
          provider: providerName,
          errorCode: 'PROVIDER_UNCONFIRMED',
          errorMessage: `${providerName} may have taken this message (${f.errorCode}: ${f.errorMessage}); it cannot be asked, so it is not sent again`,
          onlyFrom: ['QUEUED', 'SCHEDULED'],
        });
      } else if (!f.permanent && job.attempt < policy.maxSubmitAttempts) {
        record('RETRY');
        changes.release(job, retryAt(), job.attempt);
      } else if (item.routeIndex + 1 < item.route.length) {
        record('FAILED_OVER');
        failover.push(item);
      } else {
        record('FAILED');
        changes.take(job, item.id);
        transitions.push({
          deliveryId: item.id,
          status: f.status,
          provider: providerName,
          errorCode: f.errorCode,
          errorMessage: f.errorMessage,
          raw: f.raw,
          onlyFrom: ['QUEUED', 'SCHEDULED'],
        });
      }
    }
    const pollAfter = provider ? this.firstPollAfter(provider) : 1000;
    changes.create(unconfirmed, { id: newId(), kind: 'POLL', runAt: new Date(now + pollAfter), attempt: 0, unconfirmedSince: null, leased: false });
    // A failover starts afresh: a new submission (count 0, a reference of its own) to the next
    // provider, in its queue when that provider is paced.
    for (const [next, items] of groupBy(failover, (item) => item.route[item.routeIndex + 1] ?? '')) {
      const pacedProvider = this.pacedProviders.includes(next) ? next : null;
      changes.create(items, { id: newId(), kind: 'SUBMIT', runAt: new Date(now), attempt: 0, unconfirmedSince: null, leased: false, pacedProvider });
    }
    await this.commit(transitions, changes, attempts, async (tx, applied) => {
      if (failover.length > 0) {
        await tx.query(
          { name: 'dispatch-failover', text: `UPDATE deliveries SET route_index = route_index + 1, updated_at = now() WHERE id = ANY($1::uuid[])` },
          [failover.map((item) => item.id)],
        );
      }
      await refundUndelivered(tx, applied.filter((t) => isFinal(t.status)));
    });
    if (failover.length > 0) {
      this.wake();
      this.wakePaced();
    }
  }

  private firstPollAfter(provider: SmsProvider): number {
    const { reports, firstPollAfterMs } = provider.capabilities;
    const override = reports === 'poll' ? this.options.reportPollAfterMs : this.options.callbackSafetyPollMs;
    return override ?? firstPollAfterMs;
  }

  private async poll(items: WorkItem[]): Promise<void> {
    const providerName = providerOf(items[0]!);
    const provider = this.deps.providers.get(providerName);
    const changes = new JobChanges();
    const now = Date.now();
    const queries: StatusQuery[] = items
      .filter((item) => item.providerMessageId && item.sentAt)
      .map((item) => ({ deliveryId: item.id, providerMessageId: item.providerMessageId!, recipient: item.recipient, sentAt: item.sentAt! }));
    let reports: Awaited<ReturnType<SmsProvider['fetchStatus']>> = [];
    if (provider && queries.length > 0) {
      try {
        reports = await provider.fetchStatus(queries);
      } catch (error) {
        this.deps.logger.warn({ err: error, provider: providerName, count: queries.length }, 'status poll failed');
        void this.deps.health?.record(providerName, `status poll: ${(error as Error).message}`).catch(() => undefined);
      }
    }
    const finalIds = new Set(reports.filter((r) => isFinal(r.status)).map((r) => r.deliveryId));
    const transitions: Transition[] = reports.map((r) => ({ ...r, provider: providerName }));
    for (const item of items) {
      if (finalIds.has(item.id)) {
        changes.take(item.job, item.id);
      } else if (item.sentAt && now - item.sentAt.getTime() > this.options.retry.reportTimeoutMs) {
        changes.take(item.job, item.id);
        transitions.push({
          deliveryId: item.id,
          status: 'EXPIRED',
          provider: providerName,
          errorCode: 'REPORT_TIMEOUT',
          errorMessage: 'No delivery report arrived in time.',
        });
      } else {
        const wait = pollDelayMs(this.options.retry, provider ? this.firstPollAfter(provider) : 1000, item.job.attempt);
        changes.release(item.job, new Date(now + wait), item.job.attempt);
      }
    }
    await this.commit(transitions, changes, [], undefined, knownOf(items));
  }

  /**
   * Records the outcome of work done. Once a provider has taken a message, losing this write
   * would send it again, so a failed write (a busy pool, a deadlock, a blip) is tried again,
   * the claims kept alive meanwhile; the transaction either happened whole or not at all.
   */
  private async commit(
    transitions: Transition[],
    changes: JobChanges,
    attempts: AttemptRecord[],
    more?: (tx: SqlTransaction, applied: AppliedTransition[]) => Promise<void>,
    known?: ReadonlyMap<string, KnownDelivery>,
  ): Promise<DeliveryUpdate[]> {
    const jobs = changes.isEmpty ? undefined : { worker: this.worker, leaseMs: this.options.leaseMs, changes: changes.toJson() };
    this.vacuum.note(changes.jobIds.length);
    for (let attempt = 1; ; attempt++) {
      try {
        return await recordTransitions(this.deps, transitions, { attempts, known, jobs, ...(more ? { also: more } : {}) });
      } catch (error) {
        if (attempt >= COMMIT_ATTEMPTS) throw error;
        this.deps.logger.warn({ err: error, attempt }, 'recording dispatch results failed; trying again');
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
        await extendClaims(this.deps.db, this.worker, changes.jobIds, this.options.leaseMs).catch(() => undefined);
      }
    }
  }
}

/**
 * The work items that nothing but their claim has touched since, as transitions take them:
 * those with attempts on record are read again, with their attempts.
 */
function knownOf(items: WorkItem[]): Map<string, KnownDelivery> {
  const known = new Map<string, KnownDelivery>();
  for (const item of items) {
    if (item.hasAttempts) continue;
    known.set(item.id, Object.assign(copyDelivery(item), { attempts: [], message: item.message }));
  }
  return known;
}

/**
 * The deliveries whose found submission is another delivery's (the same text to the same number,
 * sent before under that id): it is not theirs, so theirs was not taken.
 */
async function submissionsOfOthers<F extends FoundSubmission & { recipient: string }>(db: Db, provider: string, found: F[]): Promise<Set<F>> {
  if (found.length === 0) return new Set();
  const rows = await sqlOf(db).query<{ providerMessageId: string; recipient: string }>(
    {
      name: 'dispatch-submissions-of-others',
      text: `SELECT provider_message_id AS "providerMessageId", recipient FROM deliveries
        WHERE provider = $1 AND provider_message_id = ANY($2::text[]) AND id <> ALL($3::uuid[])`,
    },
    [provider, [...new Set(found.map((f) => f.providerMessageId))], found.map((f) => f.deliveryId)],
  );
  const taken = new Set(rows.map((row) => `${row.providerMessageId}\u0000${row.recipient}`));
  return new Set(found.filter((f) => taken.has(`${f.providerMessageId}\u0000${f.recipient}`)));
}

/**
 * One submission's worth of claimed work, `size` deliveries: whole jobs first, then part of
 * the next to fill it (the part becomes a job of its own, see planSubmissions); the rest is left.
 */
function fill(items: WorkItem[], size: number): { going: WorkItem[]; left: WorkItem[] } {
  const going: WorkItem[] = [];
  const left: WorkItem[] = [];
  for (const job of groupBy(items, (item) => item.job.id).values()) {
    if (going.length + job.length <= size) going.push(...job);
    else left.push(...job);
  }
  const room = size - going.length;
  if (room > 0 && left.length > 0) {
    const cut = left.filter((item) => item.job === left[0]!.job).slice(0, room);
    going.push(...cut);
    return { going, left: left.filter((item) => !cut.includes(item)) };
  }
  return { going, left };
}

function failure(deliveryId: string, errorCode: string, errorMessage: string, permanent: boolean) {
  return { deliveryId, outcome: 'failed' as const, permanent, status: 'FAILED' as const, errorCode, errorMessage };
}

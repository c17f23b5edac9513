import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Webhook } from 'standardwebhooks';
import type { WebhookConfig } from '../config.ts';
import type { Db } from '../db/client.ts';
import { encodeCursor } from '../deliveries/event-log.ts';
import type { Logger } from '../logger.ts';
import { GroupCommit } from '../shared/group-commit.ts';
import type { ResolveHost } from './addresses.ts';
import { endpointsForSending, type SendingEndpoint } from './endpoints.ts';
import { claimNotices, pruneAttempts, recordResults, releaseNotices, type ClaimedNotice, type NoticeResult } from './outbox.ts';
import { bodyKey, loadBodies, type DeliveryWebhook } from './payload.ts';
import { postWebhook, type RequestOutcome } from './request.ts';

const MAX_DELAY_MS = 8 * 3600_000;
const TIDY_EVERY_MS = 10 * 60_000;
/** Requests in flight in one process, over all endpoints. */
const MAX_IN_FLIGHT = 64;

/**
 * The wait before try `attempt + 1` after `attempt` failed: exponential (base, 4x, 16x...) up
 * to 8 h, with ±20% jitter so that an endpoint back from an outage is not hit all at once.
 */
export function webhookRetryDelayMs(baseMs: number, attempt: number, random: () => number = Math.random): number {
  const delay = Math.min(baseMs * 4 ** (attempt - 1), MAX_DELAY_MS);
  return Math.round(delay * (0.8 + 0.4 * random()));
}

export type WebhookWorkerDeps = {
  db: Db;
  logger: Logger;
  secretKey: () => Promise<Buffer>;
  resolve: ResolveHost;
  onRequest?: (outcome: RequestOutcome) => void;
  /** Attempts older than this many days are removed (the event log's window). */
  attemptRetentionDays: number;
};

/**
 * Sends the outbox: claims due notices, POSTs each to its endpoint signed as Standard Webhooks
 * says, and records the answers. Each endpoint has at most `concurrencyPerEndpoint` requests
 * in flight here, and each request `timeoutMs`: a slow or dead endpoint holds only its own.
 */
export class WebhookWorker {
  readonly worker = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}:webhooks`;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly inFlight = new Map<string, number>();
  private total = 0;
  private readonly requests = new Set<Promise<void>>();
  private abort = new AbortController();
  private readonly results: GroupCommit<NoticeResult, undefined>;

  constructor(
    private readonly deps: WebhookWorkerDeps,
    private readonly config: WebhookConfig,
  ) {
    this.results = new GroupCommit(
      async (batch) => {
        await recordResults(deps.db, this.worker, batch);
        return batch.map(() => ({ ok: true as const, value: undefined }));
      },
      { maxInFlight: 1, maxItems: 500, maxWeight: 500, weight: () => 1 },
    );
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  /** Stops claiming, cuts requests in flight short and gives their notices back (they are sent again: at least once). */
  async stop(): Promise<void> {
    if (!this.loop) return;
    this.running = false;
    this.abort.abort();
    this.wakeUp?.();
    await this.loop;
    this.loop = undefined;
    await releaseNotices(this.deps.db, this.worker).catch((error: unknown) => {
      this.deps.logger.warn({ err: error }, 'could not release webhook claims; they lapse with their lease');
    });
  }

  private async run(): Promise<void> {
    let tidiedAt = 0;
    while (this.running) {
      let claimed = 0;
      try {
        if (Date.now() - tidiedAt > TIDY_EVERY_MS) {
          tidiedAt = Date.now();
          await pruneAttempts(this.deps.db, this.deps.attemptRetentionDays);
        }
        claimed = await this.round();
      } catch (error) {
        this.deps.logger.error({ err: error }, 'webhook round failed');
      }
      if (this.running && claimed === 0) await this.idle(this.config.pollIntervalMs);
      else if (this.running && this.total >= MAX_IN_FLIGHT) await Promise.race(this.requests);
    }
    await Promise.allSettled([...this.requests]);
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        done();
      };
    });
  }

  /** Claims what this worker has room for and starts its requests. Returns how many were claimed. */
  private async round(): Promise<number> {
    const room = MAX_IN_FLIGHT - this.total;
    if (room <= 0) return 0;
    const cap = this.config.concurrencyPerEndpoint;
    const busy = [...this.inFlight].filter(([, n]) => n >= cap).map(([id]) => id);
    const notices = await claimNotices(this.deps.db, this.worker, room, this.config.leaseMs, busy);
    if (notices.length === 0) return 0;
    const key = await this.deps.secretKey();
    const [endpoints, bodies] = await Promise.all([
      endpointsForSending(this.deps.db, key, [...new Set(notices.map((n) => n.endpointId))]),
      loadBodies(this.deps.db, notices),
    ]);
    const surplus: bigint[] = [];
    for (const notice of notices) {
      const endpoint = endpoints.get(notice.endpointId);
      const body = bodies.get(bodyKey(notice));
      if (!endpoint || !endpoint.enabled || !body) {
        // Deleted or disabled meanwhile, or the event has left the log: nothing to send.
        void this.settle(notice, {
          outcome: 'dropped',
          statusCode: null,
          durationMs: 0,
          error: !body ? 'the event is no longer in the log' : 'the endpoint is disabled',
          excerpt: null,
        });
        continue;
      }
      const n = this.inFlight.get(endpoint.id) ?? 0;
      if (n >= cap) {
        surplus.push(notice.id);
        continue;
      }
      this.inFlight.set(endpoint.id, n + 1);
      this.total += 1;
      const request: Promise<void> = this.send(notice, endpoint, body)
        .catch((error: unknown) => this.deps.logger.error({ err: error }, 'webhook request failed'))
        .finally(() => {
          this.requests.delete(request);
          this.total -= 1;
          const left = (this.inFlight.get(endpoint.id) ?? 1) - 1;
          if (left > 0) this.inFlight.set(endpoint.id, left);
          else this.inFlight.delete(endpoint.id);
          this.wakeUp?.();
        });
      this.requests.add(request);
    }
    await releaseNotices(this.deps.db, this.worker, surplus);
    return notices.length;
  }

  private async send(notice: ClaimedNotice, endpoint: SendingEndpoint, body: DeliveryWebhook): Promise<void> {
    const payload = JSON.stringify(body);
    const id = encodeCursor(notice.seq);
    const timestamp = new Date();
    const signature = new Webhook(endpoint.secret).sign(id, timestamp, payload);
    const answer = await postWebhook(
      endpoint.url,
      { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)), 'webhook-signature': signature },
      payload,
      { timeoutMs: this.config.timeoutMs, resolve: this.deps.resolve, allowPrivate: this.config.allowPrivateUrls, signal: this.abort.signal },
    );
    if (this.abort.signal.aborted && answer.outcome !== 'success') return; // Given back on stop, not a try.
    this.deps.onRequest?.(answer.outcome);
    const failed = answer.outcome !== 'success' && answer.outcome !== 'gone';
    const giveUp = failed && notice.attempt >= this.config.maxAttempts;
    await this.settle(notice, {
      outcome: answer.outcome,
      statusCode: answer.statusCode,
      durationMs: answer.durationMs,
      error: giveUp ? `${answer.error}; given up after ${notice.attempt} tries` : answer.error,
      excerpt: answer.excerpt,
      ...(failed && !giveUp ? { retryAt: new Date(Date.now() + webhookRetryDelayMs(this.config.retryBaseMs, notice.attempt)) } : {}),
    });
  }

  private async settle(notice: ClaimedNotice, result: Omit<NoticeResult, 'notice'>): Promise<void> {
    try {
      await this.results.submit({ notice, ...result });
    } catch (error) {
      // The claim lapses with its lease and the notice is sent again: at least once.
      this.deps.logger.warn({ err: error }, 'could not record a webhook result');
    }
  }
}

import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';

/** How long the dispatcher will wait for a provider's next slot before putting the work back. */
const MAX_WAIT_MS = 2000;
/**
 * How long a submission to a paced provider waits for its turn (see takeSubmission) before it
 * is put back in the queue. Short: what is put back waits there with everything else for that
 * provider and leaves with it, packed into as few submissions as the provider takes.
 */
const SUBMISSION_WAIT_MS = 250;

export class Throttled extends Error {
  constructor(readonly retryInMs: number) {
    super(`provider busy for ${retryInMs} ms`);
  }
}

/** A longer window a provider counts requests in (MiM: 1000 an hour, 10000 a day). */
export type Quota = { requests: number; seconds: number };

/**
 * Each provider's request rate, and its longer quotas, shared by every dispatcher through
 * Redis when there is one (falling back to a per-process limit while Redis is away), per
 * process otherwise.
 */
export class ProviderThrottle {
  private readonly limiters = new Map<string, RateLimiterAbstract[]>();
  private readonly submissionLimiters = new Map<string, RateLimiterAbstract>();

  constructor(
    private readonly redis: Redis | undefined,
    private readonly prefix = 'sms-gateway',
  ) {}

  /**
   * Waits for a slot of `provider` in its rate and in every quota (at most 2 s), or throws
   * Throttled with the wait left. A slot refused by one window is given back to the others.
   */
  async take(provider: string, perSecond: number, quotas: readonly Quota[] = []): Promise<void> {
    await this.takeFrom(this.limitersFor(provider, perSecond, quotas), provider, MAX_WAIT_MS);
  }

  /**
   * A paced provider's submissions go out one at a time at its pace, smoothly (NextSMS's 30 a
   * minute: one every 2 s) rather than a minute's worth at once: a burst would spend the
   * minute's requests in its first second, each carrying a few recipients, and leave the rest of
   * the minute with none. Each submission still takes its slot of the provider's own rate (take).
   */
  async takeSubmission(provider: string, perSecond: number, maxWaitMs = SUBMISSION_WAIT_MS): Promise<void> {
    let limiter = this.submissionLimiters.get(provider);
    if (!limiter) {
      const window = smoothWindow(perSecond);
      const keyPrefix = `provider-submissions-${window.duration}`;
      const memory = new RateLimiterMemory({ ...window, keyPrefix });
      limiter = this.redis
        ? new RateLimiterRedis({ ...window, storeClient: this.redis, keyPrefix: `${this.prefix}:${keyPrefix}`, insuranceLimiter: memory, rejectIfRedisNotReady: true })
        : memory;
      this.submissionLimiters.set(provider, limiter);
    }
    await this.takeFrom([limiter], provider, maxWaitMs);
  }

  private async takeFrom(limiters: RateLimiterAbstract[], provider: string, maxWaitMs: number): Promise<void> {
    for (;;) {
      const taken: RateLimiterAbstract[] = [];
      try {
        for (const limiter of limiters) {
          await limiter.consume(provider);
          taken.push(limiter);
        }
        return;
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error;
        await Promise.all(taken.map((limiter) => limiter.reward(provider).catch(() => undefined)));
        if (error.msBeforeNext > maxWaitMs) throw new Throttled(error.msBeforeNext);
        await new Promise((resolve) => setTimeout(resolve, error.msBeforeNext));
      }
    }
  }

  private limitersFor(provider: string, perSecond: number, quotas: readonly Quota[]): RateLimiterAbstract[] {
    let limiters = this.limiters.get(provider);
    if (limiters) return limiters;
    // Whole rates are counted per second; others (Mifumo's 100 a minute) per minute.
    const rate = Number.isInteger(perSecond)
      ? { points: perSecond, duration: 1 }
      : { points: Math.max(1, Math.floor(perSecond * 60)), duration: 60 };
    // The longest window first: a request it refuses takes nothing from the shorter ones.
    const windows = [...quotas.map((q) => ({ points: q.requests, duration: q.seconds })).sort((a, b) => b.duration - a.duration), rate];
    limiters = windows.map((window) => {
      const keyPrefix = `provider-rate-${window.duration}`;
      const memory = new RateLimiterMemory({ ...window, keyPrefix });
      return this.redis
        ? new RateLimiterRedis({ ...window, storeClient: this.redis, keyPrefix: `${this.prefix}:${keyPrefix}`, insuranceLimiter: memory, rejectIfRedisNotReady: true })
        : memory;
    });
    this.limiters.set(provider, limiters);
    return limiters;
  }
}

/** A rate as the shortest window that holds a whole number of requests: 0.5 a second is one every 2 s. */
export function smoothWindow(perSecond: number): { points: number; duration: number } {
  for (let duration = 1; duration <= 60; duration++) {
    const points = perSecond * duration;
    if (points >= 1 && Math.abs(points - Math.round(points)) < 1e-6) return { points: Math.round(points), duration };
  }
  return { points: Math.max(1, Math.floor(perSecond * 60)), duration: 60 };
}

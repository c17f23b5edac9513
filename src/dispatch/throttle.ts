import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Redis } from 'ioredis';

/** How long the dispatcher will wait for a provider's next slot before putting the work back. */
const MAX_WAIT_MS = 2000;

export class Throttled extends Error {
  constructor(readonly retryInMs: number) {
    super(`provider busy for ${retryInMs} ms`);
  }
}

/**
 * Each provider's submission rate, shared by every dispatcher through Redis when there is one
 * (falling back to a per-process limit while Redis is away), per process otherwise.
 */
export class ProviderThrottle {
  private readonly limiters = new Map<string, RateLimiterAbstract>();

  constructor(
    private readonly redis: Redis | undefined,
    private readonly prefix = 'sms-gateway',
  ) {}

  /** Waits for a slot of `provider` (at most 2 s), or throws Throttled with the wait left. */
  async take(provider: string, perSecond: number): Promise<void> {
    const limiter = this.limiterFor(provider, perSecond);
    for (;;) {
      try {
        await limiter.consume(provider);
        return;
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw error;
        if (error.msBeforeNext > MAX_WAIT_MS) throw new Throttled(error.msBeforeNext);
        await new Promise((resolve) => setTimeout(resolve, error.msBeforeNext));
      }
    }
  }

  private limiterFor(provider: string, perSecond: number): RateLimiterAbstract {
    let limiter = this.limiters.get(provider);
    if (limiter) return limiter;
    // Whole rates are counted per second; others (Mifumo's 100 a minute) per minute.
    const window = Number.isInteger(perSecond)
      ? { points: perSecond, duration: 1 }
      : { points: Math.max(1, Math.floor(perSecond * 60)), duration: 60 };
    const memory = new RateLimiterMemory({ ...window, keyPrefix: 'provider' });
    limiter = this.redis
      ? new RateLimiterRedis({ ...window, storeClient: this.redis, keyPrefix: `${this.prefix}:provider-rate`, insuranceLimiter: memory, rejectIfRedisNotReady: true })
      : memory;
    this.limiters.set(provider, limiter);
    return limiter;
  }
}

import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { GatewayError } from '../shared/errors.ts';

/** Operation classes, limited per API key per minute (defaults from the Mifumo document). */
export const RATE_CLASSES = ['send', 'status', 'reports', 'balance', 'admin', 'tokens'] as const;
export type RateClass = (typeof RATE_CLASSES)[number];
export type RateLimits = Record<RateClass, number>;

/** admin: changes to keys, sub-accounts and credit; tokens: access tokens a backend makes for its browsers. */
export const DEFAULT_RATE_LIMITS: RateLimits = { send: 100, status: 200, reports: 50, balance: 20, admin: 100, tokens: 1000 };

type Waiting = { resolve: () => void; reject: (error: unknown) => void };

/**
 * Requests per API key and operation class. Counted in Redis when it is configured, so the
 * limit holds across instances; while Redis is away each instance counts on its own.
 *
 * Requests of one key that arrive in the same turn of the event loop are counted with one
 * call (consume n points, not n calls of one): the store adds them all, as it would one by
 * one, and the answer says how many of them still fitted, which go through, in order; the
 * rest are refused as they would have been.
 */
export class KeyRateLimiter {
  private readonly limiters: Record<RateClass, RateLimiterAbstract>;
  private pending = new Map<string, { cls: RateClass; apiKeyId: string; waiting: Waiting[] }>();
  private scheduled = false;

  constructor(limits: RateLimits, redis: Redis | undefined, prefix = 'sms-gateway') {
    this.limiters = Object.fromEntries(
      RATE_CLASSES.map((cls) => {
        const window = { points: limits[cls], duration: 60, keyPrefix: `${prefix}:rate:${cls}` };
        const memory = new RateLimiterMemory(window);
        const limiter = redis
          ? new RateLimiterRedis({ ...window, storeClient: redis, insuranceLimiter: memory, rejectIfRedisNotReady: true })
          : memory;
        return [cls, limiter];
      }),
    ) as unknown as Record<RateClass, RateLimiterAbstract>;
  }

  /** Counts one request of `cls` for the key, or throws RATE_LIMITED with the seconds to wait. */
  consume(apiKeyId: string, cls: RateClass): Promise<void> {
    return new Promise((resolve, reject) => {
      const key = `${cls}\u0000${apiKeyId}`;
      let entry = this.pending.get(key);
      if (!entry) {
        entry = { cls, apiKeyId, waiting: [] };
        this.pending.set(key, entry);
      }
      entry.waiting.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batches = this.pending;
    this.pending = new Map();
    for (const { cls, apiKeyId, waiting } of batches.values()) void this.count(cls, apiKeyId, waiting);
  }

  private async count(cls: RateClass, apiKeyId: string, waiting: Waiting[]): Promise<void> {
    const limiter = this.limiters[cls];
    let res: RateLimiterRes;
    try {
      res = await limiter.consume(apiKeyId, waiting.length);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) {
        for (const w of waiting) w.reject(error);
        return;
      }
      res = error;
    }
    // The store now holds these requests too: those that came before the limit go through.
    const fitted = Math.max(0, Math.min(waiting.length, limiter.points - (res.consumedPoints - waiting.length)));
    waiting.forEach((w, i) => (i < fitted ? w.resolve() : w.reject(this.limited(cls, res))));
  }

  private limited(cls: RateClass, res: RateLimiterRes): GatewayError {
    const retryAfterSeconds = Math.max(1, Math.ceil(res.msBeforeNext / 1000));
    return new GatewayError('RATE_LIMITED', `Too many ${cls} requests for this API key; try again in ${retryAfterSeconds} s.`, {
      retryAfterSeconds,
      limit: this.limiters[cls].points,
      http: { status: 429, headers: { 'retry-after': String(retryAfterSeconds) } },
    });
  }
}

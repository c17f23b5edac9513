import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { GatewayError } from '../graphql/errors.ts';

/** Operation classes, limited per API key per minute (defaults from the Mifumo document). */
export const RATE_CLASSES = ['send', 'status', 'reports', 'balance'] as const;
export type RateClass = (typeof RATE_CLASSES)[number];
export type RateLimits = Record<RateClass, number>;

export const DEFAULT_RATE_LIMITS: RateLimits = { send: 100, status: 200, reports: 50, balance: 20 };

/**
 * Requests per API key and operation class. Counted in Redis when it is configured, so the
 * limit holds across instances; while Redis is away each instance counts on its own.
 */
export class KeyRateLimiter {
  private readonly limiters: Record<RateClass, RateLimiterAbstract>;

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
  async consume(apiKeyId: string, cls: RateClass): Promise<void> {
    try {
      await this.limiters[cls].consume(apiKeyId);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      const retryAfterSeconds = Math.max(1, Math.ceil(error.msBeforeNext / 1000));
      throw new GatewayError('RATE_LIMITED', `Too many ${cls} requests for this API key; try again in ${retryAfterSeconds} s.`, {
        retryAfterSeconds,
        limit: this.limiters[cls].points,
        http: { status: 429, headers: { 'retry-after': String(retryAfterSeconds) } },
      });
    }
  }
}

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
 * Points of a key's window taken from the store ahead of its requests, this instance's to use
 * until the window ends; `taking`: a call taking more is on its way (one at a time, so that no
 * lease replaces another unspent).
 */
type Lease = { left: number; until: number; remaining: number; taking: boolean };

/**
 * A key's next call to the store takes this share of what the window still had at its last
 * call beyond its own requests (none while that is under 100), and never more than LEASE_MAX.
 */
const LEASE_SHARE = 100;
const LEASE_MAX = 1000;

/**
 * Requests per API key and operation class. Counted in Redis when it is configured, so the
 * limit holds across instances; while Redis is away each instance counts on its own.
 *
 * Requests of one key that arrive in the same turn of the event loop are counted with one
 * call (consume n points, not n calls of one): the store adds them all, as it would one by
 * one, and the answer says how many of them still fitted, which go through, in order; the
 * rest are refused as they would have been.
 *
 * A key far from its limit also takes a lease: a hundredth of what its window had left, counted
 * in the store like any request, which this instance then spends without asking (a lone
 * client's request waits for no round trip). So one instance admits exactly the limit; with
 * several, a key can be refused while another instance still holds unspent points of its
 * window, at most a hundredth of what remained when each lease was taken.
 */
export class KeyRateLimiter {
  private readonly limiters: Record<RateClass, RateLimiterAbstract>;
  private pending = new Map<string, { cls: RateClass; apiKeyId: string; waiting: Waiting[] }>();
  private readonly leases = new Map<string, Lease>();
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
    const key = `${cls}\u0000${apiKeyId}`;
    const lease = this.leases.get(key);
    if (lease && lease.left > 0 && performance.now() < lease.until) {
      lease.left -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
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
    if (this.leases.size > 10_000) {
      const now = performance.now();
      for (const [key, lease] of this.leases) if (lease.until <= now) this.leases.delete(key);
    }
    for (const [key, { cls, apiKeyId, waiting }] of batches) void this.count(key, cls, apiKeyId, waiting);
  }

  private async count(key: string, cls: RateClass, apiKeyId: string, waiting: Waiting[]): Promise<void> {
    const limiter = this.limiters[cls];
    const previous = this.leases.get(key);
    const ahead = previous && !previous.taking ? Math.min(LEASE_MAX, Math.floor(previous.remaining / LEASE_SHARE)) : 0;
    const asked = waiting.length + ahead;
    if (ahead > 0) previous!.taking = true;
    let res: RateLimiterRes;
    try {
      res = await limiter.consume(apiKeyId, asked);
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) {
        for (const w of waiting) w.reject(error);
        return;
      }
      res = error;
    } finally {
      if (ahead > 0) previous!.taking = false;
    }
    // The store now holds these requests too: those that came before the limit go through, and
    // what fitted beyond them is the lease.
    const fitted = Math.max(0, Math.min(asked, limiter.points - (res.consumedPoints - asked)));
    const current = this.leases.get(key);
    // A call that took nothing ahead leaves the lease as it is: it may still be being spent.
    if (ahead > 0 || !current) {
      const now = performance.now();
      const unspent = current && current.until > now ? current.left : 0;
      this.leases.set(key, { left: unspent + Math.max(0, fitted - waiting.length), until: now + res.msBeforeNext, remaining: res.remainingPoints, taking: false });
    } else {
      current.remaining = res.remainingPoints;
    }
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

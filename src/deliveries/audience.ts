import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** How long an answer of "nobody listens" is trusted without asking Redis again. */
const NOBODY_TRUSTED_MS = 1000;

/** Answers to "does anyone listen to this channel?" that are still being asked. */
type Asking = { sentAt: number; announcements: number };

/**
 * What an instance knows of who listens to which account's updates, so that publishing to an
 * account nobody listens to costs no round trip to Redis each time (a lone sender's updates
 * come a few milliseconds apart, and each would ask).
 *
 * An answer of nobody is kept for NOBODY_TRUSTED_MS. A subscriber that starts meanwhile must
 * not miss what is committed after it reads its starting position, so before it reads it, the
 * instance it starts on announces the account to every instance and waits until each has
 * forgotten its answer and said so, or until any answer given before the subscription has
 * lapsed anyway (an instance that does not answer in time).
 */
export class Audience {
  readonly control: string;
  readonly acks: string;
  private readonly instance = randomUUID();
  private readonly nobody = new Map<string, number>();
  private readonly waiting = new Map<string, () => void>();
  /** Announcements received: an answer asked before the latest one may be out of date. */
  private announcements = 0;
  /** Whether announcements reach this instance (its subscription to them is in place). */
  private hearing = false;

  constructor(
    private readonly publisher: Redis,
    prefix: string,
  ) {
    this.control = `${prefix}:audience`;
    this.acks = `${prefix}:audience:${this.instance}`;
  }

  /** Whether `channel` was found without listeners recently enough to skip publishing to it. */
  nobodyListens(channel: string): boolean {
    const since = this.nobody.get(channel);
    if (since === undefined) return false;
    if (performance.now() - since < NOBODY_TRUSTED_MS) return true;
    this.nobody.delete(channel);
    return false;
  }

  /** Notes the moment a question about listeners is sent. */
  asking(): Asking {
    return { sentAt: performance.now(), announcements: this.announcements };
  }

  /** Remembers an answer of nobody, unless an announcement that may contradict it came since it was asked. */
  foundNobody(channel: string, asked: Asking): void {
    if (!this.hearing || asked.announcements !== this.announcements) return;
    if (this.nobody.size >= 100_000) this.nobody.clear();
    this.nobody.set(channel, asked.sentAt);
  }

  /** Handles a message of the audience channels; false for any other. */
  receive(channel: string, payload: string): boolean {
    if (channel === this.control) {
      const [from, nonce, ...announced] = payload.split(' ');
      this.announcements += 1;
      for (const listened of announced) this.nobody.delete(listened);
      this.publisher.publish(`${this.control}:${from}`, nonce!).catch(() => undefined);
      return true;
    }
    if (channel === this.acks) {
      this.waiting.get(payload)?.();
      return true;
    }
    return false;
  }

  /**
   * Tells every instance that `channels` have a listener from now on, in one message, and
   * resolves once none of them skips them any more. Never fails: with Redis away nothing is
   * published anyway, and the feed reads what it missed once Redis is back.
   */
  announce(channels: readonly string[]): Promise<void> {
    if (channels.length === 0) return Promise.resolve();
    const nonce = randomUUID();
    let answered = 0;
    let expected = Number.POSITIVE_INFINITY;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(nonce);
        resolve();
      };
      // 20% beyond the trust: an answer given before the subscription has lapsed by then, whatever the clocks' drift.
      const timer = setTimeout(done, NOBODY_TRUSTED_MS * 1.2);
      this.waiting.set(nonce, () => {
        answered += 1;
        if (answered >= expected) done();
      });
      this.publisher.publish(this.control, `${this.instance} ${nonce} ${channels.join(' ')}`).then(
        (receivers) => {
          expected = receivers;
          if (answered >= expected) done();
        },
        done,
      );
    });
  }

  /** The subscription to announcements is in place (again). */
  hear(): void {
    this.hearing = true;
  }

  /** Announcements may be missed from now on (the connection that receives them is down): nothing is skipped. */
  deaf(): void {
    this.hearing = false;
    this.nobody.clear();
  }
}

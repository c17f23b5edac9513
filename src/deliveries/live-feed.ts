import { EventEmitter } from 'node:events';
import type { Db } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { AsyncQueue } from './async-queue.ts';
import type { EventBus } from './event-bus.ts';
import { lastSeq, lastSeqs, loadUpdates } from './event-log.ts';
import type { DeliveryUpdate } from './records.ts';
import { decodeUpdates } from './update-codec.ts';

const PAGE = 1000;
/** Subscribers handed an update between two turns of the event loop (see AccountFeed.emit). */
const EMIT_SLICE = 500;
/** A subscriber this far behind is cut off; it resumes from its cursor when it resubscribes. */
const MAX_BACKLOG = 100_000;

export class SubscriberTooSlowError extends Error {}

/**
 * One ordered, gap-free stream of an account's updates per process, shared by all of its local
 * subscribers. Updates arrive over the bus; when the numbers show that something was missed
 * (a publish lost while Redis was away, or two publishes overtaking each other) the feed reads
 * the gap from the event log once, for all its subscribers.
 */
class AccountFeed {
  private last = 0n;
  private chain: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | undefined;
  readonly listeners = new Set<(update: DeliveryUpdate) => void>();
  readonly ready: Promise<void>;

  constructor(
    private readonly accountId: string,
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly logger: Logger,
  ) {
    this.ready = this.enqueue(async () => {
      this.unsubscribe = await bus.subscribe(accountId, (payload) => this.enqueue(() => this.receive(payload)));
      // Subscribed first, then read the position: nothing committed after it can be missed.
      this.last = await lastSeq(db, accountId);
    });
  }

  get position(): bigint {
    return this.last;
  }

  /** Reads everything recorded since the last update handed out. */
  catchUp(): Promise<void> {
    return this.enqueue(() => this.fill());
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task);
    this.chain = run.catch((error: unknown) => {
      this.logger.error({ err: error, accountId: this.accountId }, 'live feed failed to process updates');
    });
    return run;
  }

  private async receive(payload: string): Promise<void> {
    for (const update of decodeUpdates(payload)) {
      if (update.seq <= this.last) continue;
      if (update.seq > this.last + 1n) await this.fill(update.seq - 1n);
      if (update.seq === this.last + 1n) await this.emit(update);
    }
  }

  private async fill(uptoSeq?: bigint): Promise<void> {
    for (;;) {
      const page = await loadUpdates(this.db, this.accountId, { afterSeq: this.last, uptoSeq, limit: PAGE });
      for (const update of page) await this.emit(update);
      if (page.length < PAGE) return;
    }
  }

  /**
   * Hands `update` to every subscriber, a slice at a time: what each slice sets off (a write per
   * subscriber) runs before the next slice, with the event loop free in between, so thousands of
   * subscribers never hold it for the whole fan-out.
   */
  private async emit(update: DeliveryUpdate): Promise<void> {
    this.last = update.seq;
    let handed = 0;
    for (const listener of this.listeners) {
      listener(update);
      if (++handed % EMIT_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

/** Emits `live` (accountId) when a subscriber starts receiving live updates, and `ended` when it leaves. */
export class LiveFeeds extends EventEmitter<{ live: [accountId: string]; ended: [accountId: string] }> {
  private readonly feeds = new Map<string, AccountFeed>();
  private live = 0;

  private readonly audit: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly logger: Logger,
    auditEveryMs = 5000,
  ) {
    super();
    bus.onResume(() => {
      for (const feed of this.feeds.values()) void feed.catchUp();
    });
    this.audit = setInterval(() => void this.catchUpLagging(), auditEveryMs);
    this.audit.unref();
  }

  /**
   * A publish can be lost without Redis ever looking down (a dropped packet, a restart between
   * two health checks). One query for every account watched here shows which feeds are behind
   * the log; those read what they missed.
   */
  private async catchUpLagging(): Promise<void> {
    if (this.feeds.size === 0) return;
    try {
      for (const [accountId, seq] of await lastSeqs(this.db, [...this.feeds.keys()])) {
        const feed = this.feeds.get(accountId);
        if (feed && seq > feed.position) void feed.catchUp();
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'could not check live feeds against the event log');
    }
  }

  /** Subscribers receiving live updates in this process. */
  get liveSubscribers(): number {
    return this.live;
  }

  /**
   * The account's updates after `afterSeq` (replayed from the log), then live; with no
   * `afterSeq`, the updates from now on. In order, without gaps or duplicates.
   */
  subscribe(accountId: string, options: { afterSeq?: bigint; messageId?: string }): AsyncIterableIterator<DeliveryUpdate> {
    const queue = new AsyncQueue<DeliveryUpdate>();
    const stream = this.stream(accountId, options, queue);
    return {
      next: () => stream.next(),
      // Ending must not wait for the next update, which may never come: end the queue the
      // stream waits on first, so it leaves its loop and lets go of the feed at once.
      return: async (value?: unknown) => {
        await queue.return();
        return stream.return(value as undefined);
      },
      throw: async (error?: unknown) => {
        await queue.return();
        return stream.throw(error);
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  private async *stream(
    accountId: string,
    options: { afterSeq?: bigint; messageId?: string },
    queue: AsyncQueue<DeliveryUpdate>,
  ): AsyncGenerator<DeliveryUpdate> {
    let feed = this.feeds.get(accountId);
    if (!feed) {
      feed = new AccountFeed(accountId, this.db, this.bus, this.logger);
      this.feeds.set(accountId, feed);
    }
    const listener = (update: DeliveryUpdate) => {
      if (queue.size >= MAX_BACKLOG) {
        queue.fail(new SubscriberTooSlowError('The subscriber fell too far behind; resubscribe with the last cursor it saw.'));
      } else {
        queue.push(update);
      }
    };
    feed.listeners.add(listener);
    let counted = false;
    try {
      await feed.ready;
      const joinedAt = feed.position;
      this.live += 1;
      counted = true;
      this.emit('live', accountId);
      let last = options.afterSeq ?? joinedAt;
      const wanted = (update: DeliveryUpdate) => !options.messageId || update.messageId === options.messageId;
      while (last < joinedAt) {
        const page = await loadUpdates(this.db, accountId, {
          afterSeq: last,
          uptoSeq: joinedAt,
          messageId: options.messageId,
          limit: PAGE,
        });
        for (const update of page) yield update;
        last = page.length < PAGE ? joinedAt : page.at(-1)!.seq;
      }
      for await (const update of queue) {
        if (update.seq <= last) continue;
        last = update.seq;
        if (wanted(update)) yield update;
      }
    } finally {
      if (counted) {
        this.live -= 1;
        this.emit('ended', accountId);
      }
      feed.listeners.delete(listener);
      void queue.return();
      if (feed.listeners.size === 0 && this.feeds.get(accountId) === feed) {
        this.feeds.delete(accountId);
        feed.stop();
      }
    }
  }

  close(): void {
    clearInterval(this.audit);
    for (const feed of this.feeds.values()) feed.stop();
    this.feeds.clear();
  }
}

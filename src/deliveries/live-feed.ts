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
  /** Each listener with the number of the last update it was handed. */
  private readonly listeners = new Map<Listener, bigint>();
  /** Updates, in order and without gaps, that some listener has not been handed yet. */
  private pending: DeliveryUpdate[] = [];
  private handing = false;
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

  /** From now on `listener` is handed every update after the current position. */
  listen(listener: Listener): void {
    this.listeners.set(listener, this.last);
  }

  unlisten(listener: Listener): void {
    this.listeners.delete(listener);
  }

  get listening(): number {
    return this.listeners.size;
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
      if (update.seq === this.last + 1n) this.emit(update);
    }
  }

  private async fill(uptoSeq?: bigint): Promise<void> {
    for (;;) {
      const page = await loadUpdates(this.db, this.accountId, { afterSeq: this.last, uptoSeq, limit: PAGE });
      for (const update of page) this.emit(update);
      if (page.length < PAGE) return;
    }
  }

  private emit(update: DeliveryUpdate): void {
    this.last = update.seq;
    this.pending.push(update);
    if (!this.handing) void this.hand();
  }

  /**
   * Hands the pending updates to every listener, a slice of listeners at a time: what a slice
   * sets off (a socket write per subscriber) runs before the next slice, with the event loop
   * free in between, so thousands of subscribers never hold it for the whole fan-out. Updates
   * that come meanwhile are handed, together with the earlier ones, to the listeners this round
   * has not reached yet (their socket writes then go out as one), and to the others in the
   * next round.
   */
  private async hand(): Promise<void> {
    this.handing = true;
    try {
      while (this.pending.length > 0) {
        const roundTail = this.pending.at(-1)!.seq;
        let handed = 0;
        for (const [listener, seen] of this.listeners) {
          const first = this.pending[0]!.seq;
          const tail = this.pending.at(-1)!.seq;
          if (seen >= tail) continue;
          for (let i = seen < first ? 0 : Number(seen - first) + 1; i < this.pending.length; i++) listener(this.pending[i]!);
          this.listeners.set(listener, tail);
          if (++handed % EMIT_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        // Nothing came during the round: every listener has everything (one that joined meanwhile
        // started from the position). Otherwise those reached early get the rest in another round.
        if (this.pending.at(-1)!.seq === roundTail) this.pending = [];
      }
    } catch (error) {
      this.logger.error({ err: error, accountId: this.accountId }, 'live feed failed to hand out updates');
      this.pending = [];
    } finally {
      this.handing = false;
    }
  }
}

type Listener = (update: DeliveryUpdate) => void;

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
    let feed = this.feeds.get(accountId);
    if (!feed) {
      feed = new AccountFeed(accountId, this.db, this.bus, this.logger);
      this.feeds.set(accountId, feed);
    }
    return new Subscription(feed, options, {
      replay: (range) => loadUpdates(this.db, accountId, { ...range, messageId: options.messageId, limit: PAGE }),
      joined: () => {
        this.live += 1;
        this.emit('live', accountId);
      },
      left: (joined) => {
        if (joined) {
          this.live -= 1;
          this.emit('ended', accountId);
        }
        if (feed.listening === 0 && this.feeds.get(accountId) === feed) {
          this.feeds.delete(accountId);
          feed.stop();
        }
      },
    });
  }

  close(): void {
    clearInterval(this.audit);
    for (const feed of this.feeds.values()) feed.stop();
    this.feeds.clear();
  }
}

type SubscriptionHooks = {
  replay(range: { afterSeq: bigint; uptoSeq: bigint }): Promise<DeliveryUpdate[]>;
  joined(): void;
  left(joined: boolean): void;
};

/**
 * One subscriber of a feed. It listens from the start; until it has replayed the log up to
 * where the feed stood when it joined, what the feed hands it waits aside; from then on each
 * update it wants goes into its queue as it comes, and reading one is reading the queue: no
 * promise chain per update beyond the queue's own.
 */
class Subscription implements AsyncIterableIterator<DeliveryUpdate> {
  private readonly queue = new AsyncQueue<DeliveryUpdate>();
  private aside: DeliveryUpdate[] | undefined = [];
  private last = 0n;
  private joined = false;
  private ended = false;
  private readonly starting: Promise<void>;
  private replayed: DeliveryUpdate[] = [];
  private joinedAt = 0n;

  constructor(
    private readonly feed: AccountFeed,
    private readonly options: { afterSeq?: bigint; messageId?: string },
    private readonly hooks: SubscriptionHooks,
  ) {
    feed.listen(this.listener);
    this.starting = this.start();
  }

  private readonly listener = (update: DeliveryUpdate) => {
    if (this.aside) {
      this.aside.push(update);
    } else if (update.seq > this.last) {
      this.last = update.seq;
      if (this.options.messageId && update.messageId !== this.options.messageId) return;
      if (this.queue.size >= MAX_BACKLOG) {
        this.queue.fail(new SubscriberTooSlowError('The subscriber fell too far behind; resubscribe with the last cursor it saw.'));
      } else {
        this.queue.push(update);
      }
    }
  };

  private async start(): Promise<void> {
    await this.feed.ready;
    if (this.ended) return;
    this.joinedAt = this.feed.position;
    this.joined = true;
    this.hooks.joined();
    this.last = this.options.afterSeq ?? this.joinedAt;
  }

  async next(): Promise<IteratorResult<DeliveryUpdate>> {
    if (!this.aside) return this.queue.next();
    await this.starting;
    // The log up to where the feed stood on joining, a page at a time as the consumer reads.
    for (;;) {
      if (this.ended) return { done: true, value: undefined };
      const next = this.replayed.shift();
      if (next) return { done: false, value: next };
      if (this.last >= this.joinedAt) break;
      const page = await this.hooks.replay({ afterSeq: this.last, uptoSeq: this.joinedAt });
      this.last = page.length < PAGE ? this.joinedAt : page.at(-1)!.seq;
      this.replayed = page;
    }
    // Live from here: what waited aside goes through the listener's checks, in order.
    const aside = this.aside;
    this.aside = undefined;
    for (const update of aside) this.listener(update);
    return this.queue.next();
  }

  async return(): Promise<IteratorResult<DeliveryUpdate>> {
    if (!this.ended) {
      this.ended = true;
      this.feed.unlisten(this.listener);
      await this.queue.return();
      this.hooks.left(this.joined);
    }
    return { done: true, value: undefined };
  }

  async throw(error?: unknown): Promise<IteratorResult<DeliveryUpdate>> {
    await this.return();
    throw error;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<DeliveryUpdate> {
    return this;
  }
}

/** One item's outcome in a batch: its own answer or its own error. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

export type GroupCommitOptions<In> = {
  /** Batches being written at once; requests arriving meanwhile gather into the next one. */
  maxInFlight: number;
  /** Items per batch. */
  maxItems: number;
  /** The most weight (rows, say) per batch; an item heavier than this goes in a batch of its own. */
  maxWeight: number;
  weight: (item: In) => number;
};

type Waiting<In, Out> = { item: In; resolve: (value: Out) => void; reject: (error: unknown) => void };

/**
 * Group commit: items submitted while earlier batches are being written are written together,
 * in one transaction, and each is answered on its own. An idle queue writes at once (after the
 * current turn of the event loop, so that requests arriving together go together): a lone
 * request waits for no timer.
 */
export class GroupCommit<In, Out> {
  private queue: Array<Waiting<In, Out>> = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    private readonly write: (items: In[]) => Promise<Array<Outcome<Out>>>,
    private readonly options: GroupCommitOptions<In>,
  ) {}

  submit(item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Batches being written now. */
  get writing(): number {
    return this.inFlight;
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.options.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.take();
      this.inFlight += 1;
      void this.run(batch).finally(() => {
        this.inFlight -= 1;
        this.schedule();
      });
    }
  }

  private take(): Array<Waiting<In, Out>> {
    const { maxItems, maxWeight, weight } = this.options;
    let total = 0;
    let count = 0;
    while (count < this.queue.length && count < maxItems) {
      const next = weight(this.queue[count]!.item);
      if (count > 0 && total + next > maxWeight) break;
      total += next;
      count += 1;
    }
    return this.queue.splice(0, count);
  }

  private async run(batch: Array<Waiting<In, Out>>): Promise<void> {
    let outcomes: Array<Outcome<Out>>;
    try {
      outcomes = await this.write(batch.map((w) => w.item));
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
      return;
    }
    batch.forEach((waiting, i) => {
      const outcome = outcomes[i];
      if (!outcome) waiting.reject(new Error('the batch gave no outcome for this item'));
      else if (outcome.ok) waiting.resolve(outcome.value);
      else waiting.reject(outcome.error);
    });
  }
}

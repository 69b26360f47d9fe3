import { EventEmitter } from 'node:events';

export interface GroupCommitOptions {
  /** Most items in one group. Default 1,000. */
  maxGroup: number;
  /**
   * Groups committed at once. With 1, items wait for the group before them; with more, a group starts while the
   * previous one is still being committed (on another connection), and items waiting together are shared among
   * the free slots, which keeps more than one database core busy. Default 1.
   */
  concurrency: number;
  /**
   * Whether a group that failed with this error is tried again one item at a time, so that one bad item fails
   * alone. Not when a service is away: every item would fail the same way. Default: never.
   */
  retryAlone: (error: unknown) => boolean;
}

interface Waiting<I, O> {
  item: I;
  resolve(result: O): void;
  reject(error: unknown): void;
}

interface GroupCommitEvents {
  /** A group was committed: how many items, and how long the commit took. */
  committed: [items: number, ms: number];
}

/**
 * Group commit: calls that arrive while the previous group is being committed (or in the same turn of the event
 * loop) are committed together by one call of `commit`, which returns one result per item, in order. Each caller
 * is answered once its group is committed. Under load no item costs a round trip of its own; alone, an item
 * waits one turn of the event loop.
 */
export class GroupCommit<I, O> extends EventEmitter<GroupCommitEvents> {
  private readonly options: GroupCommitOptions;
  private waiting: Waiting<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly commit: (items: I[]) => Promise<O[]>,
    options: Partial<GroupCommitOptions> = {},
  ) {
    super();
    this.options = { maxGroup: 1_000, concurrency: 1, retryAlone: () => false, ...options };
  }

  /** Resolves with the item's result once its group is committed. */
  add(item: I): Promise<O> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      // Let the calls of this turn of the event loop join the group.
      if (!this.scheduled && this.inFlight < this.options.concurrency) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.startGroups();
        });
      }
    });
  }

  /** Resolves once every item added so far is committed (or has failed). */
  flush(): Promise<void> {
    if (this.inFlight === 0 && this.waiting.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private startGroups(): void {
    while (this.inFlight < this.options.concurrency && this.waiting.length > 0) {
      const free = this.options.concurrency - this.inFlight;
      const group = this.waiting.splice(0, Math.min(this.options.maxGroup, Math.ceil(this.waiting.length / free)));
      this.inFlight++;
      void this.commitGroup(group).finally(() => {
        this.inFlight--;
        this.startGroups();
        if (this.inFlight === 0 && this.waiting.length === 0 && !this.scheduled) this.idle.splice(0).forEach((resolve) => resolve());
      });
    }
  }

  private async commitGroup(group: Waiting<I, O>[]): Promise<void> {
    try {
      const results = await this.timed(group.map((waiting) => waiting.item));
      group.forEach((waiting, index) => waiting.resolve(results[index]!));
    } catch (error) {
      if (group.length === 1 || !this.options.retryAlone(error)) {
        group.forEach((waiting) => waiting.reject(error));
        return;
      }
      for (const waiting of group) await this.timed([waiting.item]).then(([result]) => waiting.resolve(result!), waiting.reject);
    }
  }

  private async timed(items: I[]): Promise<O[]> {
    const started = performance.now();
    const results = await this.commit(items);
    this.emit('committed', items.length, performance.now() - started);
    return results;
  }
}

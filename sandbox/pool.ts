import { EventEmitter } from 'node:events';
import type { Sandbox } from './sandbox';

export interface SandboxPoolOptions {
  /** Warm sandboxes kept ready. Default 2. */
  size: number;
  /** Sandboxes started at once while refilling. Default 2. */
  startConcurrency: number;
  /** Released sandboxes removed at once, in the background; the others wait their turn. Default 2. */
  removeConcurrency: number;
  /** First wait after a failed start; doubles on each failure in a row, up to 30 s. Default 1 s. */
  retryDelayMs: number;
  /** Failed starts in a row after which the pool reports itself unhealthy. Default 3. */
  unhealthyAfter: number;
}

export const DEFAULT_POOL_OPTIONS: SandboxPoolOptions = { size: 2, startConcurrency: 2, removeConcurrency: 2, retryDelayMs: 1_000, unhealthyAfter: 3 };

export interface PoolStats {
  /** Warm and waiting. */
  idle: number;
  inUse: number;
  starting: number;
  /** Released and not yet removed. */
  removing: number;
  /** Starts that failed since the pool was created. */
  failures: number;
}

interface PoolEvents {
  /** A sandbox became ready; `ms` is how long it took to start. */
  started: [sandbox: Sandbox, ms: number];
  failed: [error: Error];
  /** An idle sandbox died before anyone used it; the pool replaces it. */
  lost: [sandbox: Sandbox, reason: Error];
  /** A released sandbox was removed; `ms` is how long that took. */
  removed: [sandbox: Sandbox, ms: number];
  /** A released sandbox could not be removed (Docker away); the reaper removes it later. */
  removeFailed: [sandbox: Sandbox, error: Error];
  /** `unhealthyAfter` starts in a row failed: this worker cannot start sandboxes. The pool keeps trying, with backoff. */
  unhealthy: [error: Error];
  /** A start succeeded again after the pool was unhealthy. */
  healthy: [];
}

export interface SandboxStarter {
  start(): Promise<Sandbox>;
}

/**
 * Keeps `size` sandboxes started and waiting, so a mission's first tool call acquires one instead of paying for
 * a container start. A sandbox serves one mission: release() destroys it and the pool starts a fresh one.
 */
export class SandboxPool extends EventEmitter<PoolEvents> {
  private readonly options: SandboxPoolOptions;
  private readonly idle: Sandbox[] = [];
  private readonly inUse = new Set<Sandbox>();
  private refilling = 0;
  private direct = 0;
  private failures = 0;
  private failuresInARow = 0;
  private readonly toRemove: Sandbox[] = [];
  private removing = 0;
  private readonly removalsDone = new Set<() => void>();
  private retryTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  /** Sandboxes whose start finished after close() began; close() waits for their removal too. */
  private readonly lateRemovals: Promise<void>[] = [];

  constructor(
    private readonly driver: SandboxStarter,
    options: Partial<SandboxPoolOptions> = {},
  ) {
    super();
    this.options = { ...DEFAULT_POOL_OPTIONS, ...options };
    if (!Number.isInteger(this.options.size) || this.options.size < 0) throw new RangeError('pool size must be an integer >= 0');
    if (!(this.options.startConcurrency >= 1)) throw new RangeError('startConcurrency must be >= 1');
  }

  /** Starts filling the pool in the background. */
  start(): void {
    this.refill();
  }

  stats(): PoolStats {
    return { idle: this.idle.length, inUse: this.inUse.size, starting: this.refilling + this.direct, removing: this.toRemove.length + this.removing, failures: this.failures };
  }

  /** Sandboxes in use or waiting, for the stats collector. */
  sandboxes(): Sandbox[] {
    return [...this.idle, ...this.inUse];
  }

  /** A warm sandbox at once, or a new one when none is waiting. */
  async acquire(): Promise<Sandbox> {
    if (this.closing) throw new Error('the sandbox pool is closed');
    const warm = this.idle.shift();
    let sandbox: Sandbox;
    if (warm) {
      sandbox = warm;
    } else {
      this.direct++;
      try {
        sandbox = await this.startOne();
      } finally {
        this.direct--;
      }
      if (this.discardIfClosed(sandbox)) throw new Error('the sandbox pool is closed');
    }
    this.inUse.add(sandbox);
    this.refill();
    return sandbox;
  }

  /** Whether this worker cannot start sandboxes now (`unhealthyAfter` failed starts in a row). */
  get unhealthy(): boolean {
    return this.failuresInARow >= this.options.unhealthyAfter;
  }

  /**
   * Takes back a sandbox that has served its mission and removes it in the background, a few at a time, so the
   * mission's worker slot is free at once; the pool starts a replacement.
   */
  release(sandbox: Sandbox): void {
    this.inUse.delete(sandbox);
    this.toRemove.push(sandbox);
    this.removeNext();
    this.refill();
  }

  /** Stops refilling and destroys every sandbox, waiting or in use. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearTimeout(this.retryTimer);
      const all = [...this.idle.splice(0), ...this.inUse, ...this.toRemove.splice(0)];
      this.inUse.clear();
      await Promise.allSettled(all.map((sandbox) => sandbox.destroy()));
      while (this.removing > 0) await new Promise<void>((resolve) => this.removalsDone.add(resolve));
      // Starts under way finish into a closed pool, which destroys what they bring (see discardIfClosed).
      while (this.refilling + this.direct > 0) await new Promise((resolve) => setTimeout(resolve, 10));
      await Promise.allSettled(this.lateRemovals);
    })();
    return this.closing;
  }

  private removeNext(): void {
    while (this.removing < this.options.removeConcurrency && this.toRemove.length > 0) {
      const sandbox = this.toRemove.shift()!;
      this.removing++;
      const startedAt = performance.now();
      void sandbox
        .destroy()
        .then(
          () => this.emit('removed', sandbox, performance.now() - startedAt),
          (error: Error) => this.emit('removeFailed', sandbox, error),
        )
        .finally(() => {
          this.removing--;
          this.removalsDone.forEach((done) => done());
          this.removalsDone.clear();
          this.removeNext();
        });
    }
  }

  private async startOne(): Promise<Sandbox> {
    const startedAt = performance.now();
    try {
      const sandbox = await this.driver.start();
      const wasUnhealthy = this.unhealthy;
      this.failuresInARow = 0;
      this.emit('started', sandbox, performance.now() - startedAt);
      if (wasUnhealthy) this.emit('healthy');
      return sandbox;
    } catch (error) {
      this.failures++;
      this.failuresInARow++;
      this.emit('failed', error as Error);
      if (this.failuresInARow === this.options.unhealthyAfter) this.emit('unhealthy', error as Error);
      throw error;
    }
  }

  private refill(): void {
    const { size, startConcurrency } = this.options;
    // An unhealthy pool keeps probing with one start at a time, even when it keeps no warm sandboxes.
    const wanted = () => this.idle.length + this.refilling < size || (this.unhealthy && this.refilling === 0);
    while (!this.closing && !this.retryTimer && wanted() && this.refilling < startConcurrency) {
      this.refilling++;
      this.startOne().then(
        (sandbox) => {
          this.refilling--;
          if (this.discardIfClosed(sandbox)) return;
          this.idle.push(sandbox);
          sandbox.onGone((reason) => this.forgetIdle(sandbox, reason));
          this.refill();
        },
        () => {
          this.refilling--;
          this.retryLater();
        },
      );
    }
  }

  private discardIfClosed(sandbox: Sandbox): boolean {
    if (!this.closing) return false;
    this.lateRemovals.push(sandbox.destroy().catch(() => undefined));
    return true;
  }

  private retryLater(): void {
    if (this.closing || this.retryTimer) return;
    const delay = Math.min(this.options.retryDelayMs * 2 ** (this.failuresInARow - 1), 30_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.refill();
    }, delay);
    this.retryTimer.unref();
  }

  private forgetIdle(sandbox: Sandbox, reason: Error): void {
    const index = this.idle.indexOf(sandbox);
    if (index < 0) return;
    this.idle.splice(index, 1);
    this.emit('lost', sandbox, reason);
    void sandbox.destroy().catch(() => undefined);
    this.refill();
  }
}

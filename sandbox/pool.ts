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
  /**
   * The most sandboxes the pool holds at once: warm, in use, starting, and released but not yet removed. When
   * removal falls behind, starts wait for it. A worker sets its concurrency + `size` + a small removal backlog.
   * Default: no bound.
   */
  maxSandboxes: number;
}

export const DEFAULT_POOL_OPTIONS: SandboxPoolOptions = {
  size: 2,
  startConcurrency: 2,
  removeConcurrency: 2,
  retryDelayMs: 1_000,
  unhealthyAfter: 3,
  maxSandboxes: Infinity,
};

export interface PoolStats {
  /** Warm and waiting. */
  idle: number;
  inUse: number;
  starting: number;
  /** Released (killed at once) and not yet removed. */
  removing: number;
  /** Acquires waiting for a removal to make room under maxSandboxes. */
  waiting: number;
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
  /** A released sandbox could not be killed at once; its removal, or the reaper's, stops it. */
  killFailed: [sandbox: Sandbox, error: Error];
  /** `unhealthyAfter` starts in a row failed: this worker cannot start sandboxes. The pool keeps trying, with backoff. */
  unhealthy: [error: Error];
  /** A start succeeded again after the pool was unhealthy. */
  healthy: [];
}

export interface SandboxStarter {
  start(): Promise<Sandbox>;
}

/** An acquire whose mission stopped (cancel, deadline, hand back) before a sandbox was ready for it. */
export class AcquireAbortedError extends Error {
  constructor() {
    super('the sandbox was no longer wanted');
    this.name = 'AcquireAbortedError';
  }
}

/** Removals timed, for the estimate of how long removing what the pool holds takes. */
const TIMED_REMOVALS = 20;
/** What a removal is taken to cost before any was timed. */
const UNTIMED_REMOVAL_MS = 1_000;

/**
 * Keeps `size` sandboxes started and waiting, so a mission's first tool call acquires one instead of paying for
 * a container start. A sandbox serves one mission: release() kills it at once and removes it in the background,
 * and the pool starts a fresh one. It never holds more than `maxSandboxes`: starts wait for removals.
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
  /** Background removals under way, at most removeConcurrency. */
  private removing = 0;
  /** Every removal under way: background, on close, or of a sandbox no longer wanted. */
  private removals = 0;
  /** Sandboxes whose removal is under way. */
  private readonly leaving = new Set<Sandbox>();
  /** Each a sandbox on its way out: a removal under way, or a start that a closed pool removes when it ends. */
  private readonly unfinished = new Set<Promise<unknown>>();
  private readonly removalTimes: number[] = [];
  /** Acquires waiting at the bound, served in order: a warm sandbox as one comes, or a place once a removal ends. */
  private readonly waiters: ((grant: Grant) => void)[] = [];
  private warming = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private closing: Promise<number> | undefined;

  constructor(
    private readonly driver: SandboxStarter,
    options: Partial<SandboxPoolOptions> = {},
  ) {
    super();
    this.options = { ...DEFAULT_POOL_OPTIONS, ...options };
    if (!Number.isInteger(this.options.size) || this.options.size < 0) throw new RangeError('pool size must be an integer >= 0');
    if (!(this.options.startConcurrency >= 1)) throw new RangeError('startConcurrency must be >= 1');
    if (!(this.options.maxSandboxes >= Math.max(this.options.size, 1))) throw new RangeError('maxSandboxes must be at least the pool size, and at least 1');
  }

  /** Starts filling the pool in the background. */
  start(): void {
    this.refill();
  }

  stats(): PoolStats {
    return {
      idle: this.idle.length,
      inUse: this.inUse.size,
      starting: this.refilling + this.direct,
      removing: this.toRemove.length + this.removals,
      waiting: this.waiters.length,
      failures: this.failures,
    };
  }

  /** Sandboxes in use or waiting, for the stats collector. */
  sandboxes(): Sandbox[] {
    return [...this.idle, ...this.inUse];
  }

  /**
   * Whether the pool still holds this container: waiting, in use, or released and not yet removed. The reaper
   * asks, so it never removes beside the pool's own removal (Docker answers the second with 409, which reads as
   * done while the first is still under way).
   */
  holds(containerId: string): boolean {
    return [...this.idle, ...this.inUse, ...this.toRemove, ...this.leaving].some((sandbox) => sandbox.id === containerId);
  }

  /**
   * A warm sandbox at once, or a new one when none is waiting. When `signal` aborts first, rejects with
   * AcquireAbortedError at once; the sandbox being started for it is removed when its start ends.
   */
  async acquire(signal?: AbortSignal): Promise<Sandbox> {
    if (this.closing) throw new Error('the sandbox pool is closed');
    if (signal?.aborted) throw new AcquireAbortedError();
    const warm = this.idle.shift();
    if (warm) return this.lend(warm);
    // At the bound, a mission waits for a warm sandbox or for a removal to make room; a place it is given is
    // counted (as `direct`) from that moment, so nothing else takes it first.
    if (this.held() >= this.options.maxSandboxes) {
      const granted = await this.room(signal);
      if (granted) return this.lend(granted);
    } else this.direct++;
    const started = this.track(
      this.startOne().then((sandbox) => {
        if (this.closing || signal?.aborted) {
          this.remove(sandbox);
          return undefined;
        }
        return this.lend(sandbox);
      }).finally(() => {
        this.direct--;
        this.refill();
      }),
    );
    const sandbox = await (signal ? Promise.race([started, aborted(signal)]) : started);
    if (!sandbox) throw this.closing ? new Error('the sandbox pool is closed') : new AcquireAbortedError();
    return sandbox;
  }

  /** The most sandboxes the pool holds at once (maxSandboxes). */
  get limit(): number {
    return this.options.maxSandboxes;
  }

  /** Whether this worker cannot start sandboxes now (`unhealthyAfter` failed starts in a row). */
  get unhealthy(): boolean {
    return this.failuresInARow >= this.options.unhealthyAfter;
  }

  /**
   * Takes back a sandbox that has served its mission: kills it at once (nothing the mission left running outlives
   * it), then removes it in the background, a few at a time, so the mission's worker slot is free at once; the
   * pool starts a replacement when there is room.
   */
  release(sandbox: Sandbox): void {
    this.inUse.delete(sandbox);
    this.toRemove.push(sandbox);
    void sandbox.kill().catch((error: Error) => this.emit('killFailed', sandbox, error));
    this.removeNext();
    this.refill();
  }

  /**
   * Keeps no more warm sandboxes (a worker that stops takes no new missions): the idle ones are removed now,
   * and sandboxes start only when a mission asks for one.
   */
  stopWarming(): void {
    this.warming = false;
    clearTimeout(this.retryTimer);
    for (const sandbox of this.idle.splice(0)) this.remove(sandbox);
  }

  /**
   * How long removing every sandbox the pool holds would take now, from the removals it has timed: the slowest
   * recent one for each pair (removals are CPU-bound, and run side by side).
   */
  removalEstimateMs(): number {
    const held = this.idle.length + this.inUse.size + this.toRemove.length + this.unfinished.size;
    const slowest = this.removalTimes.length > 0 ? Math.max(...this.removalTimes) : UNTIMED_REMOVAL_MS;
    return slowest * Math.ceil(held / 2);
  }

  /**
   * Stops starting sandboxes and removes every one, waiting, in use or being started, all at once. Resolves
   * when all are removed, or at `until` (epoch ms) with how many were not: those are left to the reaper.
   * Safe to call twice.
   */
  close(until = Infinity): Promise<number> {
    this.closing ??= (async () => {
      clearTimeout(this.retryTimer);
      for (const waiter of this.waiters.splice(0)) waiter('closed');
      for (const sandbox of [...this.idle.splice(0), ...this.inUse, ...this.toRemove.splice(0)]) this.remove(sandbox);
      this.inUse.clear();
      // A start under way ends into a closed pool, which removes what it brings; its removal joins the set first.
      while (this.unfinished.size > 0 && Date.now() < until) {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise((resolve) => (timer = setTimeout(resolve, Math.min(until - Date.now(), 2 ** 31 - 1))));
        await Promise.race([Promise.allSettled([...this.unfinished]), deadline]);
        clearTimeout(timer);
      }
      return this.unfinished.size;
    })();
    return this.closing;
  }

  /** Sandboxes the pool holds: warm, in use, starting, released and not yet removed. */
  private held(): number {
    return this.idle.length + this.inUse.size + this.refilling + this.direct + this.toRemove.length + this.removals;
  }

  /**
   * Resolves with a warm sandbox that became ready, or with undefined once a removal made room (the place already
   * counted in `direct`); rejects when `signal` aborts first, or the pool closes.
   */
  private room(signal?: AbortSignal): Promise<Sandbox | undefined> {
    return new Promise((resolve, reject) => {
      const waiter = (grant: Grant) => {
        signal?.removeEventListener('abort', abort);
        if (grant === 'closed') return reject(new Error('the sandbox pool is closed'));
        // Counted at once, a place as starting and a sandbox as in use, so the bound holds in between.
        if (grant === 'place') this.direct++;
        else this.inUse.add(grant);
        resolve(grant === 'place' ? undefined : grant);
      };
      const abort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new AcquireAbortedError());
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', abort, { once: true });
    });
  }

  /** Serves waiting acquires in order: warm sandboxes first, then places while there is room. */
  private wakeWaiters(): void {
    while (this.waiters.length > 0 && this.idle.length > 0) this.waiters.shift()!(this.idle.shift()!);
    while (this.waiters.length > 0 && this.held() < this.options.maxSandboxes) this.waiters.shift()!('place');
  }

  private lend(sandbox: Sandbox): Sandbox {
    this.inUse.add(sandbox);
    this.refill();
    return sandbox;
  }

  private removeNext(): void {
    while (this.removing < this.options.removeConcurrency && this.toRemove.length > 0) {
      this.removing++;
      void this.remove(this.toRemove.shift()!).finally(() => {
        this.removing--;
        this.removeNext();
      });
    }
  }

  /** Removes a sandbox now, timed and tracked until it is gone. */
  private remove(sandbox: Sandbox): Promise<unknown> {
    const startedAt = performance.now();
    this.removals++;
    this.leaving.add(sandbox);
    return this.track(
      sandbox.destroy().finally(() => {
        this.removals--;
        this.leaving.delete(sandbox);
        this.refill();
      }).then(
        () => {
          const ms = performance.now() - startedAt;
          this.removalTimes.push(ms);
          if (this.removalTimes.length > TIMED_REMOVALS) this.removalTimes.shift();
          this.emit('removed', sandbox, ms);
        },
        (error: Error) => this.emit('removeFailed', sandbox, error),
      ),
    );
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.unfinished.add(work);
    void work.finally(() => this.unfinished.delete(work)).catch(() => undefined);
    return work;
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
    this.wakeWaiters();
    const { size, startConcurrency } = this.options;
    // An unhealthy pool keeps probing with one start at a time, even when it keeps no warm sandboxes.
    // Missions waiting for room come first: warming starts only when none waits and the bound allows it.
    const wanted = () => this.idle.length + this.refilling < size || (this.unhealthy && this.refilling === 0);
    const allowed = () => this.waiters.length === 0 && this.held() < this.options.maxSandboxes;
    while (this.warming && !this.closing && !this.retryTimer && wanted() && allowed() && this.refilling < startConcurrency) {
      this.refilling++;
      this.track(
        this.startOne().then(
          (sandbox) => {
            this.refilling--;
            if (this.closing || !this.warming) return void this.remove(sandbox);
            this.idle.push(sandbox);
            sandbox.onGone((reason) => this.forgetIdle(sandbox, reason));
            this.refill();
          },
          () => {
            this.refilling--;
            this.wakeWaiters();
            this.retryLater();
          },
        ),
      );
    }
  }

  private retryLater(): void {
    if (this.closing || !this.warming || this.retryTimer) return;
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
    void this.remove(sandbox);
    this.refill();
  }
}

/** What a waiting acquire is given: a warm sandbox, a place to start one, or the news that the pool closed. */
type Grant = Sandbox | 'place' | 'closed';

/** Resolves to undefined once `signal` aborts. */
function aborted(signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
}

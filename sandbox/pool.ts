import { EventEmitter } from 'node:events';
import { ParkedSandboxes, refusal, type ReuseOptions } from './parked';
import type { Sandbox } from './sandbox';

export interface SandboxPoolOptions {
  /** Warm sandboxes kept ready. Default 2. */
  size: number;
  /**
   * Sandboxes started at once, for missions and to keep the warm ones alike; more wait their turn in order. A
   * start costs about half a second of a core under gVisor: hundreds at once take each past its timeout and
   * starve the worker's own timers (its job locks). Default 2.
   */
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
  /**
   * Reuse within a tenant (SANDBOX_REUSE=tenant): a released sandbox that may serve again is reset and parked
   * for its tenant's next mission instead of being removed. Default: off, every mission a fresh sandbox.
   */
  reuse: ReuseOptions | undefined;
}

export const DEFAULT_POOL_OPTIONS: SandboxPoolOptions = {
  size: 2,
  startConcurrency: 2,
  removeConcurrency: 2,
  retryDelayMs: 1_000,
  unhealthyAfter: 3,
  maxSandboxes: Infinity,
  reuse: undefined,
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
  /** Reset and waiting for their tenants' next missions. */
  parked: number;
  /** Starts that hold a turn now (at most startConcurrency); `starting` counts those waiting for one too. */
  startsUnderWay: number;
  /** Released and being reset. */
  resetting: number;
}

/**
 * Who a sandbox is for: a mission of `tenant`; `fresh` when it must be one no mission ran in; `environment` when
 * it runs another image than the base one (never warm: started for it, and reused only within the same tenant
 * and environment).
 */
export interface Claim {
  tenant: string;
  fresh?: boolean;
  environment?: string;
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
  /** A released sandbox was reset in `ms` and parked for its tenant. */
  reset: [sandbox: Sandbox, ms: number];
  /** A released sandbox's reset failed; it is removed. */
  resetFailed: [sandbox: Sandbox, error: Error];
  /** A parked sandbox was handed to its tenant's next mission. */
  reused: [sandbox: Sandbox];
  /** A released sandbox could not be killed at once; its removal, or the reaper's, stops it. */
  killFailed: [sandbox: Sandbox, error: Error];
  /** `unhealthyAfter` starts in a row failed: this worker cannot start sandboxes. The pool keeps trying, with backoff. */
  unhealthy: [error: Error];
  /** A start succeeded again after the pool was unhealthy. */
  healthy: [];
}

export interface SandboxStarter {
  /** A sandbox of `environment` (the base one when not given). */
  start(environment?: string): Promise<Sandbox>;
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
 * and the pool starts a fresh one. With `reuse`, a sandbox that may serve again is reset and parked for its
 * tenant instead. It never holds more than `maxSandboxes`: starts wait for removals.
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
  /**
   * Acquires waiting at the bound, served in order: their tenant's parked sandbox or a warm one as one comes, or
   * a place once a removal ends.
   */
  private readonly waiters: Waiter[] = [];
  private readonly parked: ParkedSandboxes;
  private readonly resetting = new Set<Sandbox>();
  /** Starts under way (at most startConcurrency), and those waiting for a turn. */
  private startsUnderWay = 0;
  private readonly waitingToStart: (() => void)[] = [];
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
    this.parked = new ParkedSandboxes(this.options.reuse?.maxParked ?? 0);
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
      parked: this.parked.size,
      startsUnderWay: this.startsUnderWay,
      resetting: this.resetting.size,
    };
  }

  /** Sandboxes in use, waiting or being reset, for the stats collector. */
  sandboxes(): Sandbox[] {
    return [...this.idle, ...this.inUse, ...this.parked.all(), ...this.resetting];
  }

  /**
   * Whether the pool still holds this container: waiting, in use, or released and not yet removed. The reaper
   * asks, so it never removes beside the pool's own removal (Docker answers the second with 409, which reads as
   * done while the first is still under way).
   */
  holds(containerId: string): boolean {
    return [...this.sandboxes(), ...this.toRemove, ...this.leaving].some((sandbox) => sandbox.id === containerId);
  }

  /**
   * The claim's tenant's parked sandbox (with reuse), a warm one, or a new one when none is waiting. When
   * `signal` aborts first, rejects with AcquireAbortedError at once; the sandbox being started for it is removed
   * when its start ends.
   */
  async acquire(signal?: AbortSignal, claim?: Claim): Promise<Sandbox> {
    if (this.closing) throw new Error('the sandbox pool is closed');
    if (signal?.aborted) throw new AcquireAbortedError();
    const ready = this.parkedFor(claim) ?? (claim?.environment === undefined ? this.idle.shift() : undefined);
    if (ready) return this.lend(ready, claim);
    // At the bound, a mission waits for a parked or warm sandbox, or for a removal to make room; a place it is
    // given is counted (as `direct`) from that moment, so nothing else takes it first.
    if (this.held() >= this.options.maxSandboxes) {
      const granted = await this.room(signal, claim);
      if (granted) return this.lend(granted, claim);
    } else this.direct++;
    const started = this.track(
      this.startOne(signal, claim?.environment).then((sandbox) => {
        if (this.closing || signal?.aborted) {
          this.remove(sandbox);
          return undefined;
        }
        return this.lend(sandbox, claim);
      }).finally(() => {
        this.direct--;
        this.refill();
      }),
    );
    const sandbox = await (signal ? Promise.race([started, aborted(signal)]) : started);
    if (!sandbox) throw this.closing ? new Error('the sandbox pool is closed') : new AcquireAbortedError();
    return sandbox;
  }

  /** Whether missions wait for a sandbox now: the pool is at maxSandboxes, and none is warm or parked for them. */
  scarce(): boolean {
    return this.waiters.length > 0;
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
   * Takes back a sandbox that has served its mission. With reuse, one that may serve again is reset (nothing the
   * mission left, running or written, outlives that) and parked for its tenant. Any other is killed at once,
   * then removed in the background, a few at a time, so the mission's worker slot is free at once; the pool
   * starts a replacement when there is room.
   */
  release(sandbox: Sandbox): void {
    this.inUse.delete(sandbox);
    const { reuse } = this.options;
    if (reuse && this.warming && !this.closing && !refusal(sandbox, reuse)) {
      this.resetting.add(sandbox);
      const startedAt = performance.now();
      sandbox.reset(reuse.resetTimeoutMs).then(
        () => this.resetDone(sandbox, performance.now() - startedAt),
        (error: Error) => this.resetDone(sandbox, error),
      );
      return;
    }
    this.retire(sandbox);
  }

  /**
   * Keeps no more warm sandboxes (a worker that stops takes no new missions): the idle ones are removed now,
   * and sandboxes start only when a mission asks for one.
   */
  stopWarming(): void {
    this.warming = false;
    clearTimeout(this.retryTimer);
    for (const sandbox of [...this.idle.splice(0), ...this.parked.takeAll()]) this.remove(sandbox);
  }

  /**
   * How long removing every sandbox the pool holds would take now, from the removals it has timed: the slowest
   * recent one for each pair (removals are CPU-bound, and run side by side).
   */
  removalEstimateMs(): number {
    const held = this.sandboxes().length + this.toRemove.length + this.unfinished.size;
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
      const held = [...this.idle.splice(0), ...this.inUse, ...this.parked.takeAll(), ...this.resetting, ...this.toRemove.splice(0)];
      this.inUse.clear();
      this.resetting.clear();
      for (const sandbox of held) this.remove(sandbox);
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

  /** Sandboxes the pool holds: warm, in use, starting, parked, being reset, released and not yet removed. */
  private held(): number {
    const ready = this.idle.length + this.inUse.size + this.parked.size + this.resetting.size;
    return ready + this.refilling + this.direct + this.toRemove.length + this.removals;
  }

  /** Kills a sandbox at once and queues its removal; a replacement starts when there is room. */
  private retire(sandbox: Sandbox): void {
    this.queueRemoval(sandbox);
    this.refill();
  }

  private queueRemoval(sandbox: Sandbox): void {
    this.toRemove.push(sandbox);
    void sandbox.kill().catch((error: Error) => this.emit('killFailed', sandbox, error));
    this.removeNext();
  }

  /** A reset ended: the sandbox is parked for its tenant, or retired. A pool that closed meanwhile removed it. */
  private resetDone(sandbox: Sandbox, outcome: number | Error): void {
    if (!this.resetting.delete(sandbox)) return;
    if (outcome instanceof Error) this.emit('resetFailed', sandbox, outcome);
    else this.emit('reset', sandbox, outcome);
    if (outcome instanceof Error || !this.warming) return this.retire(sandbox);
    for (const pushedOut of this.parked.park(sandbox)) this.retire(pushedOut);
    this.refill();
  }

  /** The claim's tenant's parked sandbox, unless the claim wants a fresh one; one past its age cap is retired. */
  private parkedFor(claim: Claim | undefined): Sandbox | undefined {
    const { reuse } = this.options;
    if (!reuse || !claim || claim.fresh) return undefined;
    for (let sandbox = this.parked.take(claim.tenant, claim.environment); sandbox; sandbox = this.parked.take(claim.tenant, claim.environment)) {
      if (!refusal(sandbox, reuse)) {
        this.emit('reused', sandbox);
        return sandbox;
      }
      this.queueRemoval(sandbox);
    }
    return undefined;
  }

  /**
   * Resolves with a parked or warm sandbox that became ready, or with undefined once a removal made room (the
   * place already counted in `direct`); rejects when `signal` aborts first, or the pool closes.
   */
  private room(signal?: AbortSignal, claim?: Claim): Promise<Sandbox | undefined> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = (grant) => {
        signal?.removeEventListener('abort', abort);
        if (grant === 'closed') return reject(new Error('the sandbox pool is closed'));
        // Counted at once, a place as starting and a sandbox as in use, so the bound holds in between.
        if (grant === 'place') this.direct++;
        else this.inUse.add(grant);
        resolve(grant === 'place' ? undefined : grant);
      };
      waiter.claim = claim;
      const abort = () => {
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new AcquireAbortedError());
      };
      this.waiters.push(waiter);
      signal?.addEventListener('abort', abort, { once: true });
      this.wakeWaiters(); // parked sandboxes of other tenants make room for it
    });
  }

  /**
   * Serves waiting acquires: each its tenant's parked sandbox, then warm sandboxes in order, then places while
   * there is room. For those still waiting at the bound, parked sandboxes are pushed out, least recently used
   * first, until the removals under way make room for all of them.
   */
  private wakeWaiters(): void {
    for (const waiter of [...this.waiters]) {
      const parked = this.parkedFor(waiter.claim);
      if (parked) this.waiters.splice(this.waiters.indexOf(waiter), 1)[0]!(parked);
    }
    // Warm sandboxes run the base image: they go to the first waiters that want it.
    for (const waiter of [...this.waiters]) {
      if (this.idle.length === 0) break;
      if (waiter.claim?.environment === undefined) this.waiters.splice(this.waiters.indexOf(waiter), 1)[0]!(this.idle.shift()!);
    }
    while (this.waiters.length > 0 && this.held() < this.options.maxSandboxes) this.waiters.shift()!('place');
    while (this.waiters.length > this.toRemove.length + this.removals && this.parked.size > 0) this.queueRemoval(this.parked.takeOldest()!);
  }

  private lend(sandbox: Sandbox, claim: Claim | undefined): Sandbox {
    if (claim) sandbox.lendTo(claim.tenant);
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

  /** Waits for a start turn (rejecting with AcquireAbortedError if `signal` aborts first), then starts one. */
  private async startOne(signal?: AbortSignal, environment?: string): Promise<Sandbox> {
    // A turn that ends is handed to the next start waiting, counted as it was.
    if (this.startsUnderWay < this.options.startConcurrency) this.startsUnderWay++;
    else await this.startTurn(signal);
    try {
      return await this.startNow(environment);
    } finally {
      const next = this.waitingToStart.shift();
      if (next) next();
      else this.startsUnderWay--;
    }
  }

  private startTurn(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const turn = () => {
        signal?.removeEventListener('abort', abort);
        resolve();
      };
      const abort = () => {
        this.waitingToStart.splice(this.waitingToStart.indexOf(turn), 1);
        reject(new AcquireAbortedError());
      };
      this.waitingToStart.push(turn);
      signal?.addEventListener('abort', abort, { once: true });
    });
  }

  private async startNow(environment?: string): Promise<Sandbox> {
    const startedAt = performance.now();
    try {
      const sandbox = await this.driver.start(environment);
      sandbox.onGone((reason) => this.forgetIdle(sandbox, reason));
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

  /** A warm or parked sandbox died before anyone used it again. */
  private forgetIdle(sandbox: Sandbox, reason: Error): void {
    const index = this.idle.indexOf(sandbox);
    if (index >= 0) this.idle.splice(index, 1);
    else if (!this.parked.remove(sandbox)) return;
    this.emit('lost', sandbox, reason);
    void this.remove(sandbox);
    this.refill();
  }
}

/** What a waiting acquire is given: a parked or warm sandbox, a place to start one, or the news that the pool closed. */
type Grant = Sandbox | 'place' | 'closed';
type Waiter = ((grant: Grant) => void) & { claim?: Claim };

/** Resolves to undefined once `signal` aborts. */
function aborted(signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
}

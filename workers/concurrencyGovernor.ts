import { EventEmitter } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface GovernorOptions {
  /** Missions in flight it never goes below, and never above. */
  min: number;
  max: number;
  /** How often it looks. Default 2 s. */
  everyMs: number;
  /**
   * Host CPU busy above this (0-1, smoothed over the last looks), or the event loop late by `lagMs`: fewer
   * missions. Default 0.95.
   */
  busyAbove: number;
  /** Host CPU busy (smoothed) below this, with every slot taken: more missions. Default 0.85. */
  idleBelow: number;
  /** The event loop's 99th-percentile delay that means this process is starved (its job locks are at risk). Default 500 ms. */
  lagMs: number;
}

export const DEFAULT_GOVERNOR_OPTIONS: Omit<GovernorOptions, 'min' | 'max'> = { everyMs: 2_000, busyAbove: 0.95, idleBelow: 0.85, lagMs: 500 };
/**
 * Weight of each look in the smoothed CPU (about the last three looks count). Sandbox starts come in bursts that
 * fill both cores for a second: shrinking on each burst held a model-bound batch at half the missions per minute
 * of a hand-set concurrency (npm run perf -- agents).
 */
const SMOOTHING = 0.3;

/** What the governor sets, and what it reads: the worker's slots, and how many are taken. */
export interface Governed {
  concurrency: number;
  running(): number;
}

interface GovernorEvents {
  /** It set the concurrency to `to`, from `from`, because of `cause`, with the host's CPU `busy` (0-1) and the loop's p99 delay. */
  changed: [to: number, from: number, cause: 'idle' | 'cpu' | 'event_loop', busy: number, lagMs: number];
}

/**
 * Sizes a worker's missions in flight by what they cost the host (WORKER_CONCURRENCY=auto). Missions that wait
 * for a model leave the CPU idle: while every slot is taken and the host has CPU to spare, it grows by half. When
 * the host's CPU is saturated, or this process's event loop falls behind (job lock renewals would lapse next), it
 * shrinks by a quarter. Sandboxes, starts and model calls have bounds of their own (sandbox/pool.ts, llmPace.ts).
 */
export class ConcurrencyGovernor extends EventEmitter<GovernorEvents> {
  private readonly options: GovernorOptions;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 20 });
  private timer: NodeJS.Timeout | undefined;
  private smoothedBusy: number | undefined;

  constructor(
    private readonly worker: Governed,
    private readonly hostBusy: () => number,
    options: Pick<GovernorOptions, 'min' | 'max'> & Partial<GovernorOptions>,
  ) {
    super();
    this.options = { ...DEFAULT_GOVERNOR_OPTIONS, ...options };
    if (!(this.options.min >= 1 && this.options.max >= this.options.min)) throw new RangeError('the governor needs 1 <= min <= max');
  }

  start(): void {
    this.loopDelay.enable();
    this.timer = setInterval(() => this.tick(this.hostBusy(), this.loopDelay.percentile(99) / 1e6), this.options.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.loopDelay.disable();
  }

  /** One look: `busy` the host's CPU since the last (0-1), `lagMs` the event loop's p99 delay. */
  tick(sampled: number, lagMs: number): void {
    this.loopDelay.reset();
    const busy = (this.smoothedBusy = this.smoothedBusy === undefined ? sampled : this.smoothedBusy + SMOOTHING * (sampled - this.smoothedBusy));
    const { min, max, busyAbove, idleBelow } = this.options;
    const from = this.worker.concurrency;
    const lagging = lagMs > this.options.lagMs;
    let to = from;
    if (busy > busyAbove || lagging) to = Math.max(min, Math.floor(from * 0.75));
    else if (busy < idleBelow && this.worker.running() >= from) to = Math.min(max, Math.ceil(from * 1.5));
    if (to === from) return;
    this.worker.concurrency = to;
    this.emit('changed', to, from, to > from ? 'idle' : lagging ? 'event_loop' : 'cpu', busy, lagMs);
  }
}

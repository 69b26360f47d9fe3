import { EventEmitter } from 'node:events';
import type { Queue } from 'bullmq';
import { announceCancellations, missionJobId, type MissionJobData } from '../lib/queue';
import type { Redis } from '../lib/redis';
import { enqueueMissions } from './enqueue';
import type { Enqueueable } from './missionStore';
import type { BatchStore } from './batches/batchStore';
import type { MissionStore } from './missionStore';

export interface SweeperOptions {
  /** How often a sweep runs; one process of the fleet sweeps at a time. Default 5 s. */
  everyMs: number;
  /** Open missions whose jobs one sweep looks at; the next sweep goes on from there. Default 5,000. */
  pageSize: number;
}

export const DEFAULT_SWEEPER_OPTIONS: SweeperOptions = { everyMs: 5_000, pageSize: 5_000 };

/** Why the sweeper moved a mission on. */
export type RescueReason = 'not_enqueued' | 'job_missing' | 'job_failed' | 'job_completed';

export interface Rescue {
  missionId: string;
  reason: RescueReason;
}

interface SweeperEvents {
  /** This process ran a sweep (it held the lease): the missions it moved on and the batches it ended (often none). */
  swept: [rescues: Rescue[], endedBatches: string[]];
  /** A sweep could not run (Postgres or Redis away); the next one tries again. */
  failed: [error: Error];
}

const FIRST_ID = '00000000-0000-0000-0000-000000000000';

/**
 * Keeps the promise that a queued or running mission always has a live job. Each sweep enqueues the missions
 * whose job never reached BullMQ, and gives a new job to those whose job is gone: lost from Redis (a restart
 * that dropped its last writes), failed (it gave up while a service was away), or finished without finishing
 * the mission. Every process may run one: a lease in Redis lets one sweep at a time, and the job number is
 * compare-and-set in Postgres, so a mission is never given two jobs. A job whose worker died while running it
 * is BullMQ's to recover (its lock expires and another worker takes it over). It also finishes batch cancels
 * that were cut short, and ends batches whose last mission ended without the batch being ended with it.
 */
export class MissionSweeper extends EventEmitter<SweeperEvents> {
  private readonly options: SweeperOptions;
  private cursor = FIRST_ID;
  private batchCursor = FIRST_ID;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<Rescue[]> | undefined;

  constructor(
    private readonly store: MissionStore,
    private readonly batches: BatchStore,
    private readonly queue: Queue<MissionJobData>,
    /** A connection that fails fast while Redis is away (lib/redis.ts, producer). */
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Names the holder of the sweep lease. */
    private readonly owner: string,
    options: Partial<SweeperOptions> = {},
  ) {
    super();
    this.options = { ...DEFAULT_SWEEPER_OPTIONS, ...options };
  }

  start(): void {
    this.timer ??= setInterval(() => {
      this.sweep().catch((error: Error) => this.emit('failed', error));
    }, this.options.everyMs);
    this.timer.unref();
  }

  /** Stops sweeping and waits for a sweep under way. Safe to call twice. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping?.catch(() => undefined);
  }

  /** One sweep, if this process holds the lease; returns what it rescued. */
  sweep(): Promise<Rescue[]> {
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<Rescue[]> {
    const leased = await this.redis.set(`${this.prefix}:sweeper`, this.owner, 'PX', Math.max(this.options.everyMs - 100, 100), 'NX');
    if (leased !== 'OK') return [];
    // A batch cancel cut short (its API process died) is finished before missions without a live job are looked
    // for: those it left unfinished have nothing to run, and would otherwise be given new jobs.
    for (const { id, cancel_error: reason } of await this.batches.unfinishedCancels(this.options.pageSize)) {
      const cancelled = await this.batches.cancel(id, reason);
      if (cancelled !== 'ended') await announceCancellations(this.redis, this.prefix, cancelled.running);
    }
    const rescues: Rescue[] = [];
    const missed = await this.store.notEnqueued(this.options.everyMs, this.options.pageSize);
    await enqueueMissions(this.queue, this.store, missed);
    rescues.push(...missed.map((mission) => ({ missionId: mission.id, reason: 'not_enqueued' as const })));
    rescues.push(...(await this.rescueLostJobs()));
    const unended = await this.batches.unended(this.batchCursor, this.options.pageSize);
    this.batchCursor = unended.length < this.options.pageSize ? FIRST_ID : unended.at(-1)!;
    this.emit('swept', rescues, await this.batches.end(unended));
    return rescues;
  }

  private async rescueLostJobs(): Promise<Rescue[]> {
    const page = await this.store.openEnqueued(this.cursor, this.options.pageSize);
    this.cursor = page.length < this.options.pageSize ? FIRST_ID : page.at(-1)!.id;
    const reasons = await this.lostReasons(page.map((mission) => missionJobId(mission.id, mission.job_seq)));
    const lost = new Map<string, { mission: Enqueueable; reason: RescueReason }>();
    page.forEach((mission, index) => {
      const reason = reasons[index];
      if (reason) lost.set(mission.id, { mission, reason });
    });
    if (lost.size === 0) return [];
    // A failed job is removed, so nobody retries it by hand next to its replacement (it could not run anyway:
    // only the job the mission names may run it).
    await Promise.all(
      [...lost.values()]
        .filter(({ reason }) => reason === 'job_failed')
        .map(({ mission }) => this.queue.remove(missionJobId(mission.id, mission.job_seq)).catch(() => undefined)),
    );
    const moved = await this.store.reassignJobs([...lost.values()].map(({ mission }) => mission));
    await enqueueMissions(this.queue, this.store, moved);
    return moved.map((mission) => ({ missionId: mission.id, reason: lost.get(mission.id)!.reason }));
  }

  /**
   * Why each job will never move its mission on, or undefined while it still may. Three O(1) lookups a job, in
   * one round trip: BullMQ's getJobState searches the wait list, so a page of it costs page × backlog.
   */
  private async lostReasons(jobIds: readonly string[]): Promise<(RescueReason | undefined)[]> {
    const { completed, failed } = this.queue.keys;
    const pipeline = this.redis.pipeline();
    for (const id of jobIds) pipeline.exists(this.queue.toKey(id)).zscore(failed, id).zscore(completed, id);
    const replies = (await pipeline.exec()) ?? [];
    const failure = replies.find(([error]) => error)?.[0];
    if (failure) throw failure;
    return jobIds.map((_, index) => {
      const [[, exists], [, failedAt], [, completedAt]] = replies.slice(index * 3, index * 3 + 3);
      if (!exists) return 'job_missing';
      if (failedAt !== null) return 'job_failed';
      return completedAt !== null ? 'job_completed' : undefined;
    });
  }
}

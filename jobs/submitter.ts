import { EventEmitter } from 'node:events';
import type { Queue } from 'bullmq';
import type { MissionJobData } from '../lib/queue';
import type { Mission, MissionSpec } from './mission';
import type { MissionStore } from './missionStore';

interface SubmitterEvents {
  /** Missions committed, singly (group-committed) or in a batch. */
  committed: [count: number, via: 'single' | 'batch'];
  /** Missions committed but not enqueued (Redis unavailable); the reconciler will enqueue them. */
  enqueueFailed: [error: Error, missionIds: string[]];
}

interface Waiting {
  tenantId: string;
  spec: MissionSpec;
  resolve(mission: Mission): void;
  reject(error: Error): void;
}

/** Missions enqueued per addBulk call: BullMQ pipelines them in one round trip. */
const ENQUEUE_CHUNK = 1_000;

/**
 * Accepts missions durably. Single submissions that arrive together are group-committed: one INSERT for all of
 * them, while the previous commit is still running; each caller is answered once its row is committed.
 * Enqueuing follows the commit and never delays the answer; what fails to enqueue is left to reconcile().
 */
export class MissionSubmitter extends EventEmitter<SubmitterEvents> {
  private waiting: Waiting[] = [];
  private committing: Promise<void> | undefined;
  private readonly enqueues = new Set<Promise<void>>();

  constructor(
    private readonly store: MissionStore,
    private readonly queue: Queue<MissionJobData>,
  ) {
    super();
  }

  /** Resolves with the mission once it is committed. */
  submit(tenantId: string, spec: MissionSpec): Promise<Mission> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ tenantId, spec, resolve, reject });
      this.committing ??= this.commitWaiting();
    });
  }

  /** Commits a batch in one transaction, then enqueues it. */
  async submitBatch(tenantId: string, specs: readonly MissionSpec[], submitted: number): Promise<{ batchId: string; missions: Mission[] }> {
    const created = await this.store.createBatch(tenantId, specs, submitted);
    this.emit('committed', created.missions.length, 'batch');
    this.enqueueInBackground(created.missions);
    return created;
  }

  /**
   * Enqueues a mission that is queued again after an approval, without waiting for the reconciler. Its job has a
   * name of its own (`<mission>-step-<n>`): the job that parked the mission may still be finishing, and BullMQ
   * would take a second job with the same id for the same one.
   */
  requeue(mission: Mission, step: number): void {
    this.enqueueInBackground([mission], `-step-${step}`);
  }

  /** Enqueues queued missions that never reached BullMQ; returns how many. Safe to run anywhere, any time. */
  async reconcile(olderThanMs: number, limit = 1_000): Promise<number> {
    const missions = await this.store.notEnqueued(olderThanMs, limit);
    await this.enqueue(missions);
    return missions.length;
  }

  /** Waits for commits and enqueues under way. */
  async drain(): Promise<void> {
    while (this.committing || this.enqueues.size > 0) {
      await this.committing;
      await Promise.allSettled([...this.enqueues]);
    }
  }

  private async commitWaiting(): Promise<void> {
    // Let the requests of this turn of the event loop join the group.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.waiting.length > 0) {
      const group = this.waiting;
      this.waiting = [];
      try {
        const missions = await this.store.create(group.map(({ tenantId, spec }) => ({ tenant_id: tenantId, spec })));
        group.forEach((waiter, index) => waiter.resolve(missions[index]!));
        this.emit('committed', missions.length, 'single');
        this.enqueueInBackground(missions);
      } catch (error) {
        for (const waiter of group) waiter.reject(error as Error);
      }
    }
    this.committing = undefined;
  }

  private enqueueInBackground(missions: readonly Mission[], jobIdSuffix = ''): void {
    const ids = missions.map((mission) => mission.id);
    const enqueue = this.enqueue(missions, jobIdSuffix).catch(async (error: Error) => {
      // Leave them to the reconciler, whatever marked them enqueued before (an approval's requeue).
      await this.store.markNotEnqueued(ids).catch(() => undefined);
      this.emit('enqueueFailed', error, ids);
    });
    this.enqueues.add(enqueue);
    void enqueue.finally(() => this.enqueues.delete(enqueue));
  }

  private async enqueue(missions: readonly Pick<Mission, 'id' | 'tenant_id'>[], jobIdSuffix = ''): Promise<void> {
    for (let at = 0; at < missions.length; at += ENQUEUE_CHUNK) {
      const chunk = missions.slice(at, at + ENQUEUE_CHUNK);
      // The job id is the mission id: a mission enqueued twice (a retry, the reconciler) is still one job.
      await this.queue.addBulk(
        chunk.map(({ id, tenant_id }) => ({ name: 'mission', data: { mission_id: id, tenant_id }, opts: { jobId: id + jobIdSuffix } })),
      );
      await this.store.markEnqueued(chunk.map((mission) => mission.id));
    }
  }
}

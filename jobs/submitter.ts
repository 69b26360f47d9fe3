import { EventEmitter } from 'node:events';
import type { Queue } from 'bullmq';
import type { MissionJobData } from '../lib/queue';
import { enqueueMissions, type Enqueueable } from './enqueue';
import { isInfrastructureFault } from './faults';
import type { Mission, MissionSpec } from './mission';
import type { MissionStore } from './missionStore';

interface SubmitterEvents {
  /** Missions committed, singly (group-committed) or in a batch. */
  committed: [count: number, via: 'single' | 'batch'];
  /** Missions committed but not enqueued (Redis unavailable); the sweeper will enqueue them. */
  enqueueFailed: [error: Error, missionIds: string[]];
}

interface Waiting {
  tenantId: string;
  spec: MissionSpec;
  resolve(mission: Mission): void;
  reject(error: Error): void;
}

/**
 * Accepts missions durably. Single submissions that arrive together are group-committed: one INSERT for all of
 * them, while the previous commit is still running; each caller is answered once its row is committed.
 * Enqueuing follows the commit and never delays the answer; what fails to enqueue is left to the sweeper.
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

  /** Enqueues a mission that an approval queued again (under its new job number), without waiting for the sweeper. */
  requeue(mission: Enqueueable): void {
    this.enqueueInBackground([mission]);
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
        this.committed(group, await this.store.create(group.map(({ tenantId, spec }) => ({ tenant_id: tenantId, spec }))));
      } catch (error) {
        if (group.length === 1 || isInfrastructureFault(error)) {
          for (const waiter of group) waiter.reject(error as Error);
          continue;
        }
        // One row Postgres refused must not fail the requests of others: commit them one by one.
        for (const waiter of group) {
          await this.store.create([{ tenant_id: waiter.tenantId, spec: waiter.spec }]).then((missions) => this.committed([waiter], missions), waiter.reject);
        }
      }
    }
    this.committing = undefined;
  }

  private committed(group: readonly Waiting[], missions: readonly Mission[]): void {
    group.forEach((waiter, index) => waiter.resolve(missions[index]!));
    this.emit('committed', missions.length, 'single');
    this.enqueueInBackground(missions);
  }

  private enqueueInBackground(missions: readonly Enqueueable[]): void {
    const enqueue = enqueueMissions(this.queue, this.store, missions).catch((error: Error) => {
      // Committed missions whose enqueue failed stay unmarked, and the sweeper enqueues them.
      this.emit('enqueueFailed', error, missions.map((mission) => mission.id));
    });
    this.enqueues.add(enqueue);
    void enqueue.finally(() => this.enqueues.delete(enqueue));
  }
}

import { EventEmitter } from 'node:events';
import type { Queue } from 'bullmq';
import { GroupCommit } from '../lib/groupCommit';
import type { MissionJobData } from '../lib/queue';
import { enqueueMissions } from './enqueue';
import type { Enqueueable } from './missionStore';
import { isInfrastructureFault } from '../jobs/faults';
import type { Mission, MissionSpec } from '../jobs/mission';
import type { BatchStore } from './batches/batchStore';
import type { BatchOptions } from './batches/batchStore';
import type { MissionStore } from './missionStore';

interface SubmitterEvents {
  /** Missions committed, singly (group-committed) or in a batch. */
  committed: [count: number, via: 'single' | 'batch'];
  /** Missions committed but not enqueued (Redis unavailable); the sweeper will enqueue them. */
  enqueueFailed: [error: Error, missionIds: string[]];
}

/** A single submission: who submits what. */
interface Submission {
  tenantId: string;
  spec: MissionSpec;
}

/**
 * Accepts missions durably. Single submissions that arrive together are group-committed: one INSERT for all of
 * them, while the previous commit is still running; each caller is answered once its row is committed (a row
 * Postgres refuses fails alone). Enqueuing follows the commit and never delays the answer; what fails to enqueue
 * is left to the sweeper.
 */
export class MissionSubmitter extends EventEmitter<SubmitterEvents> {
  private readonly singles: GroupCommit<Submission, Mission>;
  private readonly enqueues = new Set<Promise<void>>();

  constructor(
    private readonly store: MissionStore,
    private readonly batches: BatchStore,
    private readonly queue: Queue<MissionJobData>,
  ) {
    super();
    this.singles = new GroupCommit(
      async (submissions: Submission[]) => {
        const missions = await this.store.create(submissions.map(({ tenantId, spec }) => ({ tenant_id: tenantId, spec })));
        this.emit('committed', missions.length, 'single');
        this.enqueueInBackground(missions);
        return missions;
      },
      { retryAlone: (error) => !isInfrastructureFault(error) },
    );
  }

  /** Resolves with the mission once it is committed. */
  submit(tenantId: string, spec: MissionSpec): Promise<Mission> {
    return this.singles.add({ tenantId, spec });
  }

  /** Commits a batch in one transaction, then enqueues it. */
  async submitBatch(tenantId: string, specs: readonly MissionSpec[], submitted: number, options: BatchOptions = {}): Promise<{ batchId: string; missions: Mission[] }> {
    const created = await this.batches.create(tenantId, specs, submitted, options);
    this.emit('committed', created.missions.length, 'batch');
    this.enqueueInBackground(created.missions);
    return created;
  }

  /**
   * Enqueues missions committed elsewhere (a batch's retries; a mission an approval queued again under a new job
   * number) without waiting for the sweeper.
   */
  enqueue(missions: readonly Enqueueable[]): void {
    this.enqueueInBackground(missions);
  }

  /** Waits for commits and enqueues under way. */
  async drain(): Promise<void> {
    await this.singles.flush();
    while (this.enqueues.size > 0) await Promise.allSettled([...this.enqueues]);
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

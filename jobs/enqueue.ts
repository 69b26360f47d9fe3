import type { Queue } from 'bullmq';
import { missionJobId, type MissionJobData } from '../lib/queue';
import type { Mission } from './mission';
import type { MissionStore } from './missionStore';

/** Jobs per addBulk call: BullMQ pipelines them in one round trip. */
const ENQUEUE_CHUNK = 1_000;

/** What enqueuing needs of a mission: the job number gives the job id; its goal names the job in Bull Board. */
export type Enqueueable = Pick<Mission, 'id' | 'tenant_id' | 'job_seq' | 'goal'>;

/** How much of a goal names its job, and how many of its steps the job's log keeps (Bull Board shows both). */
export const JOB_NAME_CHARS = 100;
const JOB_LOG_STEPS = 50;

/**
 * Adds each mission's current job to BullMQ and notes the missions as enqueued. The job id comes from the mission
 * id and its job number, so a mission enqueued twice (a retry, the sweeper, an approval) is still one job.
 */
export async function enqueueMissions(queue: Queue<MissionJobData>, store: MissionStore, missions: readonly Enqueueable[]): Promise<void> {
  for (let at = 0; at < missions.length; at += ENQUEUE_CHUNK) {
    const chunk = missions.slice(at, at + ENQUEUE_CHUNK);
    await queue.addBulk(
      chunk.map(({ id, tenant_id, job_seq, goal }) => ({
        name: goal.length > JOB_NAME_CHARS ? `${goal.slice(0, JOB_NAME_CHARS - 1)}…` : goal,
        data: { mission_id: id, tenant_id, job_seq },
        opts: { jobId: missionJobId(id, job_seq), keepLogs: JOB_LOG_STEPS },
      })),
    );
    await store.markEnqueued(chunk);
  }
}

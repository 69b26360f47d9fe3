import type { Queue } from 'bullmq';
import { missionJobId, type MissionJobData } from '../lib/queue';
import type { Mission } from './mission';
import type { MissionStore } from './missionStore';

/** Jobs per addBulk call: BullMQ pipelines them in one round trip. */
const ENQUEUE_CHUNK = 1_000;

/** What enqueuing needs of a mission: the job number gives the job id. */
export type Enqueueable = Pick<Mission, 'id' | 'tenant_id' | 'job_seq'>;

/**
 * Adds each mission's current job to BullMQ and notes the missions as enqueued. The job id comes from the mission
 * id and its job number, so a mission enqueued twice (a retry, the sweeper, an approval) is still one job.
 */
export async function enqueueMissions(queue: Queue<MissionJobData>, store: MissionStore, missions: readonly Enqueueable[]): Promise<void> {
  for (let at = 0; at < missions.length; at += ENQUEUE_CHUNK) {
    const chunk = missions.slice(at, at + ENQUEUE_CHUNK);
    await queue.addBulk(
      chunk.map(({ id, tenant_id, job_seq }) => ({
        name: 'mission',
        data: { mission_id: id, tenant_id, job_seq },
        opts: { jobId: missionJobId(id, job_seq) },
      })),
    );
    await store.markEnqueued(chunk);
  }
}

import type { Queue } from 'bullmq';
import { JOB_NAME_CHARS, missionJobId, type MissionJobData } from '../lib/queue';
import { BASE_ENVIRONMENT } from '../lib/environments';
import type { Enqueueable, MissionStore } from './missionStore';

/** Jobs per addBulk call: BullMQ pipelines them in one round trip. */
const ENQUEUE_CHUNK = 1_000;

/** The mission's environment as its job carries it: nothing for the base one. */
function environmentOf(mission: Enqueueable): string | undefined {
  const name = mission.environment ?? mission.spec?.environment?.name;
  return name && name !== BASE_ENVIRONMENT ? name : undefined;
}


/** How many of its steps the job's log keeps (Bull Board shows it). */
const JOB_LOG_STEPS = 50;

/**
 * Adds each mission's current job to BullMQ and notes the missions as enqueued. The job id comes from the mission
 * id and its job number, so a mission enqueued twice (a retry, the sweeper, an approval) is still one job.
 */
export async function enqueueMissions(queue: Queue<MissionJobData>, store: MissionStore, missions: readonly Enqueueable[]): Promise<void> {
  for (let at = 0; at < missions.length; at += ENQUEUE_CHUNK) {
    const chunk = missions.slice(at, at + ENQUEUE_CHUNK);
    await queue.addBulk(
      chunk.map((mission) => ({
        name: mission.goal.length > JOB_NAME_CHARS ? `${mission.goal.slice(0, JOB_NAME_CHARS - 1)}…` : mission.goal,
        data: { mission_id: mission.id, tenant_id: mission.tenant_id, job_seq: mission.job_seq, environment: environmentOf(mission) },
        opts: { jobId: missionJobId(mission.id, mission.job_seq), keepLogs: JOB_LOG_STEPS },
      })),
    );
    await store.markEnqueued(chunk);
  }
}

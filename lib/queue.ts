import { Queue, type ConnectionOptions } from 'bullmq';

/** The one queue of missions. Its keys live under a hash-tagged prefix, so it is safe on Redis Cluster. */
export const MISSION_QUEUE = 'missions';

export interface MissionJobData {
  mission_id: string;
}

export function createMissionQueue(connection: ConnectionOptions, prefix: string): Queue<MissionJobData> {
  return new Queue<MissionJobData>(MISSION_QUEUE, {
    connection,
    prefix,
    // Postgres holds every mission's state; Redis keeps only what is still to do.
    defaultJobOptions: { removeOnComplete: true, removeOnFail: { count: 1_000 } },
  });
}

/** Enqueues a mission. The job id is the mission id, so a mission enqueued twice still runs once. */
export async function enqueueMission(queue: Queue<MissionJobData>, missionId: string): Promise<void> {
  await queue.add('mission', { mission_id: missionId }, { jobId: missionId });
}

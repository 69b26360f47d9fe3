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

/** Redis pub/sub channel on which the API announces cancelled missions to every worker. */
export const cancelChannel = (prefix: string) => `${prefix}:cancel`;

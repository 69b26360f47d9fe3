import { Queue, type ConnectionOptions } from 'bullmq';

/** The one queue of missions. Its keys live under a hash-tagged prefix, so it is safe on Redis Cluster. */
export const MISSION_QUEUE = 'missions';

export interface MissionJobData {
  mission_id: string;
  tenant_id: string;
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

/** Caps the missions running across every worker of the queue; it lives in Redis with the queue itself. */
export async function setFleetConcurrency(connection: ConnectionOptions, prefix: string, concurrency: number): Promise<void> {
  const queue = new Queue(MISSION_QUEUE, { connection, prefix });
  try {
    await queue.setGlobalConcurrency(concurrency);
  } finally {
    await queue.close();
  }
}

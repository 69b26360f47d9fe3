import { Queue, type ConnectionOptions } from 'bullmq';
import type { Redis } from './redis';

/** The one queue of missions. Its keys live under a hash-tagged prefix, so it is safe on Redis Cluster. */
export const MISSION_QUEUE = 'missions';

/** How much of a mission's goal names its job (Bull Board shows it). */
export const JOB_NAME_CHARS = 100;

export interface MissionJobData {
  mission_id: string;
  tenant_id: string;
  /** The mission's job number when this job was added (missions.job_seq); a job whose number is stale does nothing. */
  job_seq?: number;
  /** Defects met by earlier attempts of this job (see jobs/faults.ts). */
  defects?: number;
  /** The mission's environment, when not the base one: only a worker that has its image runs the job. */
  environment?: string;
}

/** The job id of a mission's job number `jobSeq`: the mission id itself for its first job. */
export const missionJobId = (missionId: string, jobSeq: number) => (jobSeq === 0 ? missionId : `${missionId}-${jobSeq}`);

/**
 * A job is retried for as long as the services it needs are away: its attempts are practically unlimited, and
 * the wait between them (MISSION_RETRY_BACKOFF in the worker) grows to a few seconds and stays there.
 */
export const MISSION_JOB_ATTEMPTS = 1_000_000;
export const MISSION_RETRY_BACKOFF = 'mission-retry';

export function createMissionQueue(connection: ConnectionOptions, prefix: string): Queue<MissionJobData> {
  return new Queue<MissionJobData>(MISSION_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: MISSION_JOB_ATTEMPTS,
      backoff: { type: MISSION_RETRY_BACKOFF },
      // Postgres holds every mission's state; Redis keeps what is still to do, and the last finished jobs for Bull Board.
      removeOnComplete: { count: 1_000, age: 86_400 },
      removeOnFail: { count: 1_000 },
    },
  });
}

/** Redis pub/sub channel on which cancelled missions are announced to every worker. */
export const cancelChannel = (prefix: string) => `${prefix}:cancel`;

/** Tells every worker that these missions were cancelled (one message each, in one round trip). */
export async function announceCancellations(redis: Redis, prefix: string, missionIds: readonly string[]): Promise<void> {
  if (missionIds.length === 0) return;
  const pipeline = redis.pipeline();
  for (const id of missionIds) pipeline.publish(cancelChannel(prefix), id);
  await pipeline.exec();
}

/** Caps the missions running across every worker of the queue; it lives in Redis with the queue itself. */
export async function setFleetConcurrency(connection: ConnectionOptions, prefix: string, concurrency: number): Promise<void> {
  const queue = new Queue(MISSION_QUEUE, { connection, prefix });
  try {
    await queue.setGlobalConcurrency(concurrency);
  } finally {
    await queue.close();
  }
}

import { Worker, type ConnectionOptions } from 'bullmq';
import type { MissionEngine } from '../jobs/engine';
import type { Logger } from '../lib/logger';
import { MISSION_QUEUE, type MissionJobData } from '../lib/queue';
import type { Cancellations } from './cancellations';

export interface MissionWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  /** Missions this process runs at once. */
  concurrency: number;
  /** How long a job stays ours without its lock being renewed: a killed worker's missions wait this long. */
  lockMs: number;
  /** How often this worker looks for missions whose worker died, to take them over. */
  stalledCheckMs: number;
}

/** A mission survives this many worker deaths before it is failed. */
const MAX_STALLS = 5;

/** Wires the BullMQ queue to the engine: one job is one mission, run to its end. */
export function createMissionWorker(
  engine: MissionEngine,
  cancellations: Cancellations,
  logger: Logger,
  options: MissionWorkerOptions,
): Worker<MissionJobData> {
  const worker = new Worker<MissionJobData>(
    MISSION_QUEUE,
    async (job, _token, jobSignal) => {
      const missionId = job.data.mission_id;
      const log = logger.child({ mission_id: missionId, job_id: job.id });
      const cancelled = cancellations.watch(missionId);
      try {
        const signal = jobSignal ? AbortSignal.any([jobSignal, cancelled.signal]) : cancelled.signal;
        const outcome = await engine.run(missionId, signal);
        if (!outcome) log.warn('no such mission; dropping the job');
        else log.info({ status: outcome.status, steps: outcome.steps, error: outcome.error }, 'mission finished');
      } finally {
        cancelled.done();
      }
    },
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      stalledInterval: options.stalledCheckMs,
      maxStalledCount: MAX_STALLS,
    },
  );
  worker.on('failed', (job, error) => logger.error({ err: error, job_id: job?.id }, 'mission job failed'));
  worker.on('error', (error) => logger.error({ err: error }, 'worker error'));
  return worker;
}

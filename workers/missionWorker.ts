import { DelayedError, Worker, type ConnectionOptions } from 'bullmq';
import type { MissionEngine } from '../jobs/engine';
import type { Logger } from '../lib/logger';
import { MISSION_QUEUE, type MissionJobData } from '../lib/queue';
import type { Cancellations } from './cancellations';
import type { TenantSlots } from './tenantSlots';

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
/** A mission whose tenant is at its cap waits about this long before it is tried again. */
const TENANT_RETRY_MS = 250;

/** Wires the BullMQ queue to the engine: one job is one mission, run to its end. */
export function createMissionWorker(
  engine: MissionEngine,
  cancellations: Cancellations,
  tenantSlots: TenantSlots,
  logger: Logger,
  options: MissionWorkerOptions,
): Worker<MissionJobData> {
  const worker = new Worker<MissionJobData>(
    MISSION_QUEUE,
    async (job, token, jobSignal) => {
      const { mission_id: missionId, tenant_id: tenantId } = job.data;
      const log = logger.child({ mission_id: missionId, tenant_id: tenantId, job_id: job.id });
      if (!(await tenantSlots.acquire(tenantId, missionId))) {
        // The tenant has its share running: step aside without holding this worker's slot.
        await job.moveToDelayed(Date.now() + TENANT_RETRY_MS * (1 + Math.random()), token);
        throw new DelayedError();
      }
      const renewal = setInterval(() => void tenantSlots.acquire(tenantId, missionId).catch(() => undefined), options.lockMs / 3);
      const cancelled = cancellations.watch(missionId);
      try {
        const signal = jobSignal ? AbortSignal.any([jobSignal, cancelled.signal]) : cancelled.signal;
        const outcome = await engine.run(missionId, signal);
        if (!outcome) log.warn('no such mission; dropping the job');
        else log.info({ status: outcome.status, steps: outcome.steps, error: outcome.error }, 'mission finished');
      } finally {
        cancelled.done();
        clearInterval(renewal);
        await tenantSlots.release(tenantId, missionId).catch(() => undefined);
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

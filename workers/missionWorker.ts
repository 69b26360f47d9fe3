import { EventEmitter } from 'node:events';
import { DelayedError, UnrecoverableError, WaitingError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { MissionEngine, RunResult } from '../engine/engine';
import type { Step } from '../jobs/mission';
import { faultKind, type FaultKind } from '../jobs/faults';
import { HandedBackError } from '../engine/missionStops';
import { redisErrorListener } from '../jobs/redisErrors';
import { isUuid } from '../lib/ids';
import type { Logger } from '../lib/logger';
import { MISSION_QUEUE, MISSION_RETRY_BACKOFF, type MissionJobData } from '../lib/queue';
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
  /** Named in what a waiting mission is told. */
  workerId: string;
  /** Environments (beside the base one) whose images this worker has: a job of another goes back to the queue. */
  environments: ReadonlySet<string>;
  /** Says on a queued mission why it waits (here: no image of its environment). */
  noteWaiting(missionId: string, reason: string): Promise<void>;
}

interface MissionWorkerEvents {
  /** A worker started a mission `seconds` after its job became due. */
  pickedUp: [seconds: number];
  /** A run ended with this result (finished, or parked for an approval). */
  ran: [result: RunResult];
  handedBack: [];
  /** The job's lock could not be renewed (the worker was starved past it, or another took the job): the run stopped. */
  lockLost: [];
  /** A run was interrupted by a fault that is not the mission's, and is tried again (or stops, for a conflict). */
  faulted: [kind: FaultKind];
}

/** The BullMQ worker that runs missions, and how it stops. */
export interface MissionWorker {
  worker: Worker<MissionJobData>;
  events: EventEmitter<MissionWorkerEvents>;
  /** Missions running here now. */
  running(): number;
  /**
   * Takes no more jobs and waits for the running missions until `handBackAt`; then hands the rest back to the
   * queue (their running step is killed and not recorded; another worker resumes them at once). Resolves when
   * none runs here, with how many were handed back.
   */
  drain(handBackAt: number): Promise<number>;
}

/** A mission survives this many worker deaths before BullMQ fails its job (the sweeper then gives it a new one). */
const MAX_STALLS = 5;
/** A mission whose tenant is at its cap waits about this long before it is tried again. */
const TENANT_RETRY_MS = 250;
/** A job of an environment this worker lacks comes back this long later (twice, at most), for a worker that has it. */
const ENVIRONMENT_RETRY_MS = 5_000;
/** Attempts that meet a defect of ours before the mission is failed with ERR_INTERNAL. */
const MAX_DEFECTS = 3;
/** The wait before retrying a job whose service failed: 250 ms, doubling, at most this (with jitter). */
const MAX_RETRY_DELAY_MS = 5_000;
const HAND_BACK = 'the worker is shutting down';

/** Wires the BullMQ queue to the engine: one job is one mission, run to its end. */
export function createMissionWorker(
  engine: MissionEngine,
  cancellations: Cancellations,
  tenantSlots: TenantSlots,
  logger: Logger,
  options: MissionWorkerOptions,
): MissionWorker {
  const running = new Set<string>();
  // Bull Board shows each job's mission as it goes: progress is the step count, the log its steps (as many as the
  // job keeps). Neither waits for Redis nor fails the step: it is a view, and Postgres holds the truth.
  const jobsByMission = new Map<string, Job<MissionJobData>>();
  const noteStep = (missionId: string, step: Step) => {
    const job = jobsByMission.get(missionId);
    if (!job) return;
    const outcome = step.error ? `: ${step.error}` : step.exit_code === null ? '' : ` (exit ${step.exit_code})`;
    void job.updateProgress(step.seq).catch(() => undefined);
    void job.log(`step ${step.seq} ${step.tool}${outcome}`.slice(0, 500)).catch(() => undefined);
  };
  engine.on('recorded', noteStep);
  const events = new EventEmitter<MissionWorkerEvents>();
  // A job whose lock could not be renewed may be another worker's now: its run here stops, as a hand-back does,
  // but leaves the job where it is.
  const lockLost = new Map<string, AbortController>();
  const worker = new Worker<MissionJobData>(
    MISSION_QUEUE,
    async (job, token, jobSignal) => {
      const { mission_id: missionId, tenant_id: tenantId, job_seq: jobSeq = 0 } = job.data;
      const log = logger.child({ mission_id: missionId, tenant_id: tenantId, job_id: job.id });
      // A job that names no mission (added by hand, or by something else sharing the queue) can never run: it fails at once.
      if (!isUuid(String(missionId)) || !isUuid(String(tenantId))) throw new UnrecoverableError('the job names no mission (mission_id and tenant_id must be ids)');
      const { environment } = job.data;
      if (environment && !options.environments.has(environment)) {
        // Not failed: the mission waits, and says so, for a worker with the image (or for this one, once built).
        await options.noteWaiting(missionId, `no worker has taken it: the worker ${options.workerId} has no image of the environment ${environment} (the others may not either)`);
        await job.moveToDelayed(Date.now() + ENVIRONMENT_RETRY_MS * (1 + Math.random()), token);
        throw new DelayedError();
      }
      if (!(await tenantSlots.acquire(tenantId))) {
        // The tenant has its share running: step aside without holding this worker's slot.
        await job.moveToDelayed(Date.now() + TENANT_RETRY_MS * (1 + Math.random()), token);
        throw new DelayedError();
      }
      const cancelled = cancellations.watch(missionId);
      const lost = new AbortController();
      lockLost.set(job.id!, lost);
      running.add(job.id!);
      jobsByMission.set(missionId, job);
      // The first attempt only: a retry's wait is its backoff, not the queue's.
      if (job.attemptsMade === 0) events.emit('pickedUp', (Date.now() - job.timestamp - (job.opts.delay ?? 0)) / 1000);
      try {
        const result = await engine.run(missionId, jobSeq, { cancel: cancelled.signal, handBack: jobSignal ? AbortSignal.any([jobSignal, lost.signal]) : lost.signal });
        if (result) events.emit('ran', result);
        if (!result) log.debug('nothing to run: the mission has ended, or a newer job owns it');
        else if (result.status === 'waiting_approval') log.info({ steps: result.steps }, 'mission waits for an approval');
        else {
          const { status, steps, error, batchId, durationMs } = result;
          log.info({ status, steps, error, batch_id: batchId, duration_ms: durationMs }, 'mission finished');
        }
      } catch (error) {
        if (!(error instanceof HandedBackError)) {
          events.emit('faulted', faultKind(error));
          return await handleFault(engine, job, error, log);
        }
        if (lost.signal.aborted) {
          events.emit('lockLost');
          log.warn('this worker lost the job lock of the mission: it stopped running it here, and the holder of the lock (or the stalled check) goes on');
          return;
        }
        events.emit('handedBack');
        log.info('mission handed back to the queue');
        // Into the queue at once: another worker resumes it now, not once this job's lock expires.
        await job.moveToWait(token);
        throw new WaitingError();
      } finally {
        lockLost.delete(job.id!);
        running.delete(job.id!);
        jobsByMission.delete(missionId);
        cancelled.done();
        tenantSlots.release(tenantId);
      }
    },
    {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      stalledInterval: options.stalledCheckMs,
      maxStalledCount: MAX_STALLS,
      settings: { backoffStrategy: retryDelay },
      // Jobs ended per minute, kept a day: the console's fleet page draws the last hour from them.
      metrics: { maxDataPoints: 24 * 60 },
    },
  );
  worker.on('lockRenewalFailed', (jobIds) => {
    for (const jobId of jobIds) lockLost.get(jobId)?.abort();
  });
  worker.on('failed', (job, error) => logger.warn({ err: error, job_id: job?.id, attempts: job?.attemptsMade }, 'mission job failed; it is tried again'));
  worker.on('error', redisErrorListener(logger, 'worker error'));
  return {
    worker,
    events,
    running: () => running.size,
    async drain(handBackAt) {
      const closing = worker.close();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), Math.max(0, handBackAt - Date.now()))));
      const drained = await Promise.race([closing, deadline]);
      clearTimeout(timer);
      if (drained !== 'deadline') return 0;
      const handedBack = running.size;
      worker.cancelAllJobs(HAND_BACK);
      await closing;
      return handedBack;
    },
  };
}

/**
 * What a thrown error means for the job (jobs/faults.ts). Returns to end the job, throws to have BullMQ try it
 * again; the next attempt resumes after the mission's last durable step.
 */
async function handleFault(engine: MissionEngine, job: Job<MissionJobData>, error: unknown, log: Logger): Promise<void> {
  const { mission_id: missionId, job_seq: jobSeq = 0 } = job.data;
  switch (faultKind(error)) {
    case 'infrastructure':
      log.warn({ err: error }, 'a service failed under the mission; it goes on once the service is back');
      throw error;
    case 'conflict':
      if (!(await engine.owns(missionId, jobSeq))) {
        log.warn({ err: error }, 'a newer job runs this mission; this one stops');
        return;
      }
      throw error;
    case 'defect': {
      const defects = (job.data.defects ?? 0) + 1;
      if (defects >= MAX_DEFECTS) {
        log.error({ err: error, defects }, 'the mission failed on a defect of the platform');
        await engine.failForDefect(missionId, error);
        return;
      }
      log.error({ err: error, defects }, 'a defect of the platform interrupted the mission; it is tried again');
      await job.updateData({ ...job.data, defects });
      throw error;
    }
  }
}

/** BullMQ's backoff for failed attempts (MISSION_RETRY_BACKOFF): 250 ms, doubling up to 5 s, with jitter. */
function retryDelay(attemptsMade: number, type?: string): number {
  if (type !== MISSION_RETRY_BACKOFF) return 0;
  return Math.round(Math.min(250 * 2 ** (attemptsMade - 1), MAX_RETRY_DELAY_MS) * (0.5 + Math.random() / 2));
}

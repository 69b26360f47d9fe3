// One-step sandboxed missions through a real worker, its pool and gVisor, and the bare sandbox start loop they
// are measured against (perf/engine.bench.ts, perf/reuse.bench.ts).
import Docker from 'dockerode';
import type { Knex } from 'knex';
import type { Queue } from 'bullmq';
import { BatchStore } from '../store/batches/batchStore';
import type { MissionSpec } from '../jobs/mission';
import { MissionStore } from '../store/missionStore';
import { MissionSubmitter } from '../store/submitter';
import type { Config } from '../lib/config';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { createMissionQueue, type MissionJobData } from '../lib/queue';
import { createRedis } from '../lib/redis';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { SandboxDriver } from '../sandbox/driver';
import { startWorker } from '../apps/worker';
import { bareStartsPerSecond } from './bareStarts';
import { hostCpuSeconds } from './stats';

export const ONE_STEP: MissionSpec = {
  goal: 'one sandboxed step',
  policy: 'scripted',
  plan: [{ tool: 'shell', input: { command: 'true' } }],
  max_steps: 10,
  deadline_s: 3_600,
  metadata: {},
};

export interface SandboxedRun {
  perMin: number;
  succeeded: number;
  /** Host CPU seconds per mission, the whole machine's (worker, Docker, gVisor, Postgres, Redis). */
  cpuPerMission: number;
  /** The most sandboxes the worker held at once (warm, in use, starting, parked, resetting, released), and its bound. */
  heldHighWater: number;
  bound: number;
  /** With reuse: missions handed a reset sandbox, and resets that failed. */
  reuses: number;
  resetFailures: number;
}

export function submitterOf(db: Knex, queue: Queue<MissionJobData>): MissionSubmitter {
  const store = new MissionStore(db);
  return new MissionSubmitter(store, new BatchStore(db, store), queue);
}

/**
 * Runs `missions` one-step missions of one tenant as one batch through a worker started with `env` (its
 * concurrency, pool size, reuse), once its warm pool is full, and times them to the last outcome.
 */
export async function sandboxedMissions(db: Knex, env: Record<string, string | undefined>, missions: number): Promise<SandboxedRun> {
  const config = loadConfig(env);
  const worker = await startWorker(config, createLogger('silent', 'perf'), `perf-sandboxed-${process.pid}`);
  const producer = createRedis(config, 'producer');
  const queue = createMissionQueue(producer, config.QUEUE_PREFIX);
  const submitter = submitterOf(db, queue);
  let heldHighWater = 0;
  let reuses = 0;
  let resetFailures = 0;
  worker.pool.on('reused', () => reuses++);
  worker.pool.on('resetFailed', () => resetFailures++);
  const sampler = setInterval(() => {
    const { waiting: _waiting, failures: _failures, ...held } = worker.pool.stats();
    heldHighWater = Math.max(heldHighWater, Object.values(held).reduce((sum, count) => sum + count, 0));
  }, 5);
  try {
    while (worker.pool.stats().idle < config.SANDBOX_POOL_SIZE) await new Promise((resolve) => setTimeout(resolve, 20));
    const started = performance.now();
    const cpuBefore = hostCpuSeconds();
    const { batchId } = await submitter.submitBatch(ADMIN_TENANT_ID, Array.from({ length: missions }, () => ONE_STEP), missions);
    await allEnded(db, batchId, missions);
    const perMin = missions / ((performance.now() - started) / 60_000);
    const cpuPerMission = (hostCpuSeconds() - cpuBefore) / missions;
    const [{ n: succeeded }] = await db('missions').where({ batch_id: batchId, status: 'succeeded' }).count({ n: '*' });
    return { perMin, succeeded: Number(succeeded), cpuPerMission, heldHighWater, bound: worker.pool.limit, reuses, resetFailures };
  } finally {
    clearInterval(sampler);
    await submitter.drain();
    await queue.close();
    producer.disconnect();
    await worker.close();
  }
}

async function allEnded(db: Knex, batchId: string, missions: number): Promise<void> {
  for (;;) {
    const [{ n }] = await db('missions').where({ batch_id: batchId }).whereIn('status', ['succeeded', 'failed']).count({ n: '*' });
    if (Number(n) === missions) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The baseline: bare create/start/remove through Docker, `parallel` at a time, and the host CPU per start. */
export async function bareStarts(config: Config, starts: number, parallel: number): Promise<{ perMin: number; cpuPerStart: number }> {
  const docker = new Docker();
  const driver = new SandboxDriver(docker, { image: config.SANDBOX_IMAGE, runtime: config.SANDBOX_RUNTIME, owner: `perf-bare-${process.pid}`, fleet: 'perf' });
  const cpuBefore = hostCpuSeconds();
  const perSecond = await bareStartsPerSecond(docker, driver, starts, parallel);
  const cpuPerStart = (hostCpuSeconds() - cpuBefore) / (starts + 1);
  driver.close();
  return { perMin: perSecond * 60, cpuPerStart };
}

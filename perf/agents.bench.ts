// `npm run perf -- agents` (after `npm run bootstrap`): model-bound missions, the shape real agents have. Each of
// PERF_AGENT_MISSIONS (1,000) missions makes 10 real shell steps in gVisor, each chosen by a local model that
// answers in 1-10 s (lognormal, median 2.7 s); 10% of calls are refused with 429 and Retry-After, and the model is
// down for 30 s mid-run. Once with fresh sandboxes, once with SANDBOX_REUSE=tenant, beside what binds, measured in
// the same run: bare gVisor starts (the CPU ceiling of fresh sandboxes) and the latency-bound ideal (every mission
// in flight at once).
import Docker from 'dockerode';
import { startWorker } from '../apps/worker';
import type { MissionSpec } from '../jobs/mission';
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { createLogger } from '../lib/logger';
import { createMissionQueue } from '../lib/queue';
import { createRedis } from '../lib/redis';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { OWNER_LABEL } from '../sandbox/driver';
import { dropQueueKeys, dropSchema, freshSchema, runBenchmark } from './benchmark';
import { hostMemoryUsed, hostThreads, peaks } from './hostSampler';
import { bareStarts, submitterOf } from './sandboxedMissions';
import { startAgentModel, type AgentModel } from './servers/agentModel';
import { hostCpuSeconds, writeResult, type Figure } from './stats';

const MISSIONS = Number(process.env.PERF_AGENT_MISSIONS ?? 1_000);
// Reuse pays once its sandboxes exist: the first REUSE_CONCURRENCY missions start theirs fresh, the rest reuse them.
const REUSE_MISSIONS = Number(process.env.PERF_AGENT_REUSE_MISSIONS ?? 3_000);
// In flight: the defaults (WORKER_CONCURRENCY=auto, the worker sizes it), as a user who sets only the model gets.
const CONCURRENCY = process.env.PERF_AGENTS_CONCURRENCY ?? 'auto';
const REUSE_CONCURRENCY = process.env.PERF_AGENTS_REUSE_CONCURRENCY ?? 'auto';
const STEPS = 10;
const MODEL = { steps: STEPS, medianMs: 2_700, sigma: 0.5, limitedShare: 0.1 };
const OUTAGE_MS = 30_000;
const BARE_STARTS = 40;
const benchEnv = {
  ...process.env,
  DATABASE_SCHEMA: 'perf_agents',
  QUEUE_PREFIX: '{perf-agents}',
  SANDBOX_POOL_SIZE: '8',
  LLM_MODELS: 'agent',
  // The provider's limits are the operator's to set; here they are not what is measured.
  LLM_RPM: '1000000',
  LLM_TPM: '1000000000',
  LOG_LEVEL: 'silent',
};
const config = loadConfig(benchEnv);
const round = (value: number, places = 0) => Math.round(value * 10 ** places) / 10 ** places;
const GIB = 2 ** 30;

type RunResult = Awaited<ReturnType<typeof run>>;

async function run(db: ReturnType<typeof createDb>, model: AgentModel, reuse: 'off' | 'tenant', concurrency: string, missions: number) {
  const runConfig = loadConfig({ ...benchEnv, LLM_BASE_URL: model.baseUrl, SANDBOX_REUSE: reuse, WORKER_CONCURRENCY: concurrency });
  const owner = `perf-agents-${reuse}-${process.pid}`;
  const worker = await startWorker(runConfig, createLogger('silent', 'perf'), owner);
  const producer = createRedis(runConfig, 'producer');
  const queue = createMissionQueue(producer, runConfig.QUEUE_PREFIX);
  const submitter = submitterOf(db, queue);
  const memoryBefore = hostMemoryUsed();
  const sampler = peaks(async () => {
    const { idle, inUse, starting, parked, resetting, removing } = worker.pool.stats();
    const [{ n: running }] = await db('missions').where({ status: 'running' }).count({ n: '*' });
    const concurrency = (await worker.metrics.workerConcurrency.get()).values[0]?.value ?? 0;
    return { concurrency, running: Number(running), modelCalls: model.inFlight(), sandboxes: idle + inUse + starting + parked + resetting + removing, memory: hostMemoryUsed() - memoryBefore, threads: hostThreads() };
  }, 1_000);
  const started = performance.now();
  const cpuBefore = hostCpuSeconds();
  const spec: MissionSpec = { goal: 'count your steps in a file', policy: 'openai', plan: [], max_steps: STEPS + 2, deadline_s: 3_600, metadata: {} };
  const { batchId } = await submitter.submitBatch(ADMIN_TENANT_ID, Array.from({ length: missions }, () => spec), missions);
  let outageAt: number | undefined;
  for (;;) {
    const [{ n }] = await db('missions').where({ batch_id: batchId }).whereIn('status', ['succeeded', 'failed', 'cancelled', 'timed_out']).count({ n: '*' });
    if (outageAt === undefined && Number(n) >= missions / 3) {
      outageAt = (performance.now() - started) / 1_000;
      model.goDown(OUTAGE_MS);
    }
    if (Number(n) === missions) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const minutes = (performance.now() - started) / 60_000;
  const cpuPerMission = (hostCpuSeconds() - cpuBefore) / missions;
  const peak = sampler.stop();
  const outcomes = (await db('missions').where({ batch_id: batchId }).select('status', 'result', db.raw("error->>'code' as code"))) as { status: string; result: { lines?: number } | null; code: string | null }[];
  const locksLost = (await worker.metrics.missionLocksLost.get()).values[0]?.value ?? 0;
  const resizes = Object.fromEntries((await worker.metrics.concurrencyChanges.get()).values.map(({ labels, value }) => [labels.cause, value]));
  const workspaces = Object.fromEntries((await worker.metrics.workspaceSaves.get()).values.map(({ labels, value }) => [labels.event, value]));
  await submitter.drain();
  await queue.close();
  producer.disconnect();
  const closing = performance.now();
  await worker.close();
  const docker = new Docker();
  const ours = async () => (await docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${owner}`] } })).length;
  const left = await ours();
  // What the close's deadline (SHUTDOWN_TIMEOUT_MS) cut short is still being removed: how long until none is left.
  while ((await ours()) > 0) await new Promise((resolve) => setTimeout(resolve, 500));
  const allGoneS = (performance.now() - closing) / 1_000;
  const failures: Record<string, number> = {};
  for (const { code } of outcomes.filter((one) => one.status !== 'succeeded')) failures[code ?? 'none'] = (failures[code ?? 'none'] ?? 0) + 1;
  return {
    missions: missions,
    worker_concurrency: concurrency,
    sandboxes_bound: worker.pool.limit,
    succeeded: outcomes.filter((one) => one.status === 'succeeded').length,
    kept_their_files: outcomes.filter((one) => one.result?.lines === STEPS).length,
    failures,
    missions_per_min: round(missions / minutes),
    steps_per_min: round((missions * STEPS) / minutes),
    outage_started_at_s: round(outageAt ?? 0),
    peak_missions_running: peak.running,
    peak_model_calls_in_flight: peak.modelCalls,
    peak_live_sandboxes: peak.sandboxes,
    peak_host_memory_growth_gib: round(peak.memory / GIB, 2),
    host_memory_per_live_sandbox_mb: peak.sandboxes > 0 ? round(peak.memory / peak.sandboxes / 2 ** 20, 1) : null,
    peak_host_threads: peak.threads,
    host_cpu_s_per_mission: round(cpuPerMission, 3),
    job_locks_lost: locksLost,
    workspaces_let_go_restored_kept: workspaces,
    concurrency_resizes_by_cause: resizes,
    peak_worker_concurrency: peak.concurrency,
    sandboxes_left_at_close_deadline: left,
    all_sandboxes_removed_after_s: round(allGoneS, 1),
  };
}

async function main(): Promise<void> {
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { poolMax: 8 });
  await freshSchema(db, config.DATABASE_SCHEMA);
  const model = await startAgentModel(MODEL);
  try {
    const bare = await bareStarts(config, BARE_STARTS, 2);
    // With every mission in flight at once: each waits STEPS + 1 answers (mean of the lognormal) and the outage.
    const meanLatencyS = (MODEL.medianMs * Math.exp(MODEL.sigma ** 2 / 2)) / 1_000;
    const idealMissionS = (STEPS + 1) * meanLatencyS + OUTAGE_MS / 1_000;
    const idealPerMin = MISSIONS / (idealMissionS / 60);
    const baselines = { bare_starts_per_min: round(bare.perMin), host_cpu_s_per_bare_start: round(bare.cpuPerStart, 3), latency_bound_mission_s: round(idealMissionS, 1), latency_bound_ideal_per_min: round(idealPerMin), latency_bound_ideal_per_min_reused: round(REUSE_MISSIONS / (idealMissionS / 60)) };
    const setup = { missions: MISSIONS, reuse_missions: REUSE_MISSIONS, steps: STEPS, model: MODEL, outage_ms: OUTAGE_MS };
    const runFigures = (label: string, result: RunResult): Figure[] => [
      { name: `model-bound missions, ${label}`, value: result.missions_per_min, unit: '/min', baseline: { name: 'bare sandbox starts', value: round(bare.perMin) }, ...(label === 'fresh sandboxes' ? { target: { on: 'ratio', atLeast: 0.8 } } : { target: { on: 'value', atLeast: 1_000 } }) },
      { name: `missions that succeeded with all their files, ${label}`, value: result.kept_their_files, unit: 'missions', target: { on: 'value', atLeast: result.missions } },
      { name: `host memory growth at peak, ${label}`, value: result.peak_host_memory_growth_gib, unit: 'GiB', target: { on: 'value', atMost: 16 } },
      { name: `job locks lost, ${label}`, value: result.job_locks_lost, unit: 'locks', target: { on: 'value', atMost: 0 } },
      { name: `sandboxes left at the close's deadline, ${label}`, value: result.sandboxes_left_at_close_deadline, unit: 'sandboxes', target: { on: 'value', atMost: 0 } },
    ];
    // Written after each run, so a run that cannot finish leaves the one before it.
    const fresh = await run(db, model, 'off', CONCURRENCY, MISSIONS);
    writeResult('agents', { setup, baselines, model_calls: model.counts, fresh }, runFigures('fresh sandboxes', fresh));
    const reused = await run(db, model, 'tenant', REUSE_CONCURRENCY, REUSE_MISSIONS);
    writeResult('agents', { setup, baselines, model_calls: model.counts, fresh, reused }, [...runFigures('fresh sandboxes', fresh), ...runFigures('reused within the tenant', reused)]);
  } finally {
    await model.close();
    await dropSchema(db, config.DATABASE_SCHEMA);
    await dropQueueKeys(config.REDIS_URL, config.QUEUE_PREFIX);
  }
}

runBenchmark(main);

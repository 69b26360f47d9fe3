// `npm run perf -- engine` (after `npm run bootstrap`): the engine beside its baselines in the same run:
// (a) scripted missions without a sandbox against raw BullMQ no-op jobs, (c) enqueue-to-start latency with an
// idle worker, (e) steps persisted through the group-committing StepWriter against single-row inserts.
// (b) missions with one sandboxed step against the bare sandbox start rate, (d) missions in flight in one
// worker while the sim policy "thinks" 30 s per action, its peak RSS, and the enqueue-to-start latency meanwhile, (f) how long a sandboxed mission holds
// its slot after its outcome, and finish-only missions mixed with sandboxed ones against finish-only alone.
import { Queue, QueueEvents, Worker } from 'bullmq';
import type { Knex } from 'knex';
import { MissionSubmitter } from '../store/submitter';
import { createLogger } from '../lib/logger';
import { MISSION_QUEUE, createMissionQueue } from '../lib/queue';
import { createRedis } from '../lib/redis';
import { startWorker, type RunningWorker } from '../apps/worker';
import type { MissionSpec, Step } from '../jobs/mission';
import { MissionStore } from '../store/missionStore';
import { StepWriter } from '../store/stepWriter';
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { quantile, writeResult } from './stats';
import { bareStarts, sandboxedMissions, submitterOf } from './sandboxedMissions';
import { dropQueueKeys, dropSchema, freshSchema, runBenchmark } from './benchmark';

const MISSIONS = Number(process.env.PERF_MISSIONS ?? 200); // missions writing steps at once, each waiting for its step to be durable
const SECONDS = 5;

const NO_SANDBOX_MISSIONS = 10_000;
const RAW_JOBS = 10_000;
const PICKUPS = 200;
const WARM_UP_PICKUPS = 20; // a freshly started worker's first missions compile its code paths
const SIM_MISSIONS = 10_000;
const SIM_THINK_MS = 30_000;
const SANDBOXED_MISSIONS = 20;
const PARALLEL = 2; // two cores: as many sandboxed missions at once as the bare loop starts at once
const MIXED_SLOTS = 8;
const MIXED_FINISH_ONLY = 2_000;
const MIXED_SANDBOXED = 20;
const benchEnv = {
  ...process.env,
  DATABASE_SCHEMA: 'perf_engine',
  QUEUE_PREFIX: '{perf-engine}',
  SANDBOX_POOL_SIZE: '0',
  WORKER_CONCURRENCY: '100',
  MAX_RUNNING_PER_TENANT: '1000000',
  LOG_LEVEL: 'silent',
};
const config = loadConfig(benchEnv);
const finishOnly = { goal: 'no tools', policy: 'scripted' as const, plan: [{ tool: 'finish' as const, input: { result: 'done' } }], max_steps: 10, deadline_s: 3_600, metadata: {} };

/** The baseline of (a): raw BullMQ, bulk-added no-op jobs drained by one worker of the same concurrency. */
async function rawBullmqJobsPerMin(): Promise<number> {
  const connection = createRedis(config, 'worker');
  const queue = new Queue('raw', { connection, prefix: config.QUEUE_PREFIX });
  for (let at = 0; at < RAW_JOBS; at += 1_000) await queue.addBulk(Array.from({ length: 1_000 }, (_, i) => ({ name: 'noop', data: { i } })));
  let done = 0;
  const started = performance.now();
  const worker = new Worker('raw', async () => undefined, { connection, prefix: config.QUEUE_PREFIX, concurrency: 100, removeOnComplete: { count: 0 } });
  await new Promise<void>((resolve) => worker.on('completed', () => ++done === RAW_JOBS && resolve()));
  const minutes = (performance.now() - started) / 60_000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
  return RAW_JOBS / minutes;
}

/**
 * (f): how long a sandboxed mission holds its worker slot after its outcome is recorded (the sandbox is removed
 * in the background), and finish-only missions' rate in a batch mixed with sandboxed ones against their rate alone.
 */
async function mixedBatch(db: Knex): Promise<{ slotHeldMs: number[]; mixedPerMin: number; alonePerMin: number }> {
  const mixedConfig = loadConfig({ ...benchEnv, SANDBOX_POOL_SIZE: String(PARALLEL), WORKER_CONCURRENCY: String(MIXED_SLOTS) });
  const worker = await startWorker(mixedConfig, createLogger('silent', 'perf'), `perf-mixed-${process.pid}`);
  const producer = createRedis(config, 'producer');
  const queue = createMissionQueue(producer, config.QUEUE_PREFIX);
  // BullMQ does not close a connection it is given.
  const eventsConnection = createRedis(config, 'worker');
  const events = new QueueEvents(MISSION_QUEUE, { connection: eventsConnection, prefix: config.QUEUE_PREFIX });
  const completedAt = new Map<string, number>();
  events.on('completed', ({ jobId }) => completedAt.set(jobId, Date.now()));
  await events.waitUntilReady();
  const submitter = submitterOf(db, queue);
  const oneStep: MissionSpec = { ...finishOnly, plan: [{ tool: 'shell', input: { command: 'true' } }] };
  const finishOnlyRate = async (specs: MissionSpec[]) => {
    const started = performance.now();
    const { batchId } = await submitter.submitBatch(ADMIN_TENANT_ID, specs, specs.length);
    const finishOnlyCount = specs.filter((spec) => spec === finishOnly).length;
    let finishOnlyDone = 0;
    let finishOnlyMs = 0;
    for (;;) {
      const rows = (await db('missions').where({ batch_id: batchId }).whereIn('status', ['succeeded', 'failed']).select('spec')) as { spec: { plan: { tool: string }[] } }[];
      const done = rows.filter((row) => row.spec.plan[0]!.tool === 'finish').length;
      if (done > finishOnlyDone) [finishOnlyDone, finishOnlyMs] = [done, performance.now() - started];
      if (rows.length === specs.length) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { perMin: finishOnlyCount / (finishOnlyMs / 60_000), batchId };
  };
  try {
    while (worker.pool.stats().idle < PARALLEL) await new Promise((resolve) => setTimeout(resolve, 20));
    const alone = await finishOnlyRate(Array.from({ length: MIXED_FINISH_ONLY }, () => finishOnly));
    // One sandboxed mission every so many finish-only ones, spread over the batch.
    const every = Math.floor(MIXED_FINISH_ONLY / MIXED_SANDBOXED);
    const specs = Array.from({ length: MIXED_FINISH_ONLY + MIXED_SANDBOXED }, (_, i) => (i % (every + 1) === every ? oneStep : finishOnly));
    const mixed = await finishOnlyRate(specs);
    const sandboxed = (await db('missions').where({ batch_id: mixed.batchId }).whereRaw(`spec->'plan'->0->>'tool' = 'shell'`).select('id', 'finished_at')) as { id: string; finished_at: Date }[];
    while (sandboxed.some((row) => !completedAt.has(row.id))) await new Promise((resolve) => setTimeout(resolve, 20));
    const slotHeldMs = sandboxed.map((row) => completedAt.get(row.id)! - row.finished_at.getTime());
    return { slotHeldMs, mixedPerMin: mixed.perMin, alonePerMin: alone.perMin };
  } finally {
    await submitter.drain();
    await events.close();
    eventsConnection.disconnect();
    await queue.close();
    producer.disconnect();
    await worker.close();
  }
}

/** Enqueue-to-start latencies of `count` finish-only missions submitted one after another. */
async function pickups(submitter: MissionSubmitter, worker: RunningWorker, count: number): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count; i++) {
    const mission = await submitter.submit(ADMIN_TENANT_ID, finishOnly);
    const committed = performance.now();
    await new Promise<void>((resolve) => {
      const onStart = (id: string) => id === mission.id && (worker.engine.off('started', onStart), resolve());
      worker.engine.on('started', onStart);
    });
    latencies.push(performance.now() - committed);
  }
  return latencies;
}

/**
 * (d): one worker with a slot per mission; how many are in flight at once while each thinks, the RSS, and the
 * pickup latency of missions submitted while they are all in flight.
 */
async function simInflight(db: Knex): Promise<{ peakInFlight: number; peakRssMb: number; pickups: number[]; inFlightDuringPickups: number }> {
  const simConfig = loadConfig({ ...benchEnv, WORKER_CONCURRENCY: String(SIM_MISSIONS + 100) });
  const worker = await startWorker(simConfig, createLogger('silent', 'perf'), `perf-sim-${process.pid}`);
  const producer = createRedis(config, 'producer');
  const queue = createMissionQueue(producer, config.QUEUE_PREFIX);
  const submitter = submitterOf(db, queue);
  let started = 0;
  worker.engine.on('started', () => started++);
  try {
    const sim = { ...finishOnly, policy: 'sim' as const, sim_think_ms: SIM_THINK_MS };
    const { batchId } = await submitter.submitBatch(ADMIN_TENANT_ID, Array.from({ length: SIM_MISSIONS }, () => sim), SIM_MISSIONS);
    while (started < SIM_MISSIONS) await new Promise((resolve) => setTimeout(resolve, 10));
    const busy = pickups(submitter, worker, PICKUPS);
    let peakInFlight = 0;
    let peakRss = 0;
    let inFlightDuringPickups = SIM_MISSIONS;
    void busy.then(async () => {
      const [{ n }] = await db('missions').where({ batch_id: batchId, status: 'succeeded' }).count({ n: '*' });
      inFlightDuringPickups = SIM_MISSIONS - Number(n);
    });
    for (;;) {
      const [{ n }] = await db('missions').where({ batch_id: batchId, status: 'succeeded' }).count({ n: '*' });
      // The pickup missions start after every sim mission has: they are not counted.
      peakInFlight = Math.max(peakInFlight, Math.min(started, SIM_MISSIONS) - Number(n));
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      if (Number(n) === SIM_MISSIONS) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { peakInFlight, peakRssMb: Math.round(peakRss / 2 ** 20), pickups: await busy, inFlightDuringPickups };
  } finally {
    await submitter.drain();
    await queue.close();
    producer.disconnect();
    await worker.close();
  }
}

/** (a) and (c): missions through the whole platform path (commit, enqueue, worker, engine, Postgres). */
async function missionsWithoutSandbox(db: Knex): Promise<{ perMin: number; pickups: number[] }> {
  const logger = createLogger('silent', 'perf');
  const worker = await startWorker(config, logger, `perf-${process.pid}`);
  const producer = createRedis(config, 'producer');
  const queue = createMissionQueue(producer, config.QUEUE_PREFIX);
  const submitter = submitterOf(db, queue);
  try {
    await pickups(submitter, worker, WARM_UP_PICKUPS);
    const idle = await pickups(submitter, worker, PICKUPS);
    const started = performance.now();
    const { batchId } = await submitter.submitBatch(ADMIN_TENANT_ID, Array.from({ length: NO_SANDBOX_MISSIONS }, () => finishOnly), NO_SANDBOX_MISSIONS);
    for (;;) {
      const [{ n }] = await db('missions').where({ batch_id: batchId, status: 'succeeded' }).count({ n: '*' });
      if (Number(n) === NO_SANDBOX_MISSIONS) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return { perMin: NO_SANDBOX_MISSIONS / ((performance.now() - started) / 60_000), pickups: idle };
  } finally {
    await submitter.drain();
    await queue.close();
    producer.disconnect();
    await worker.close();
  }
}

function step(missionId: string, seq: number): Step {
  const now = new Date();
  return {
    mission_id: missionId,
    seq,
    thought: `step ${seq}`,
    tool: 'shell',
    input: { command: 'echo hi' },
    observation: { stdout: 'hi\n', stderr: '', exit_code: 0, timed_out: false, signal: null, stdout_bytes: 3, stderr_bytes: 0, duration_ms: 9 },
    exit_code: 0,
    error: null,
    started_at: now,
    finished_at: now,
    usage: null,
  };
}

/** Runs `write` in MISSIONS concurrent loops for SECONDS; returns rows written per second. */
async function rowsPerSecond(missionIds: string[], write: (step: Step) => Promise<unknown>): Promise<number> {
  const until = Date.now() + SECONDS * 1_000;
  let rows = 0;
  await Promise.all(
    missionIds.map(async (id) => {
      for (let seq = 1; Date.now() < until; seq++) {
        await write(step(id, seq));
        rows++;
      }
    }),
  );
  return rows / SECONDS;
}

async function freshMissions(db: Knex): Promise<string[]> {
  const spec = { goal: 'bench', policy: 'scripted' as const, plan: [{ tool: 'shell' as const, input: { command: 'true' } }], max_steps: 100_000, deadline_s: 3_600, metadata: {} };
  const missions = await new MissionStore(db).create(Array.from({ length: MISSIONS }, () => ({ tenant_id: ADMIN_TENANT_ID, spec })));
  const ids = missions.map((mission) => mission.id);
  // Only rows to write steps for: were they left queued, the workers' sweepers of the later parts would run them.
  await db('missions').whereIn('id', ids).update({ status: 'cancelled', finished_at: db.fn.now() });
  return ids;
}

async function main(): Promise<void> {
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { poolMax: 10 });
  await freshSchema(db, config.DATABASE_SCHEMA);
  try {
    const single = await rowsPerSecond(await freshMissions(db), (row) =>
      db('steps').insert({ ...row, input: JSON.stringify(row.input), observation: JSON.stringify(row.observation) }),
    );
    const writer = new StepWriter(db);
    const flushes: number[] = [];
    writer.on('flushed', (_rows, ms) => flushes.push(ms));
    const grouped = await rowsPerSecond(await freshMissions(db), (row) => writer.append(row));
    const rawPerMin = await rawBullmqJobsPerMin();
    const platform = await missionsWithoutSandbox(db);
    const sim = await simInflight(db);
    // (b): one-step missions through the pool, PARALLEL at a time, against the bare create/start/remove loop.
    const sandboxedEnv = { ...benchEnv, SANDBOX_POOL_SIZE: String(PARALLEL), WORKER_CONCURRENCY: String(PARALLEL) };
    const sandboxed = await sandboxedMissions(db, sandboxedEnv, SANDBOXED_MISSIONS);
    const bare = await bareStarts(config, SANDBOXED_MISSIONS, PARALLEL);
    const mixed = await mixedBatch(db);
    writeResult('engine', {
      no_sandbox: {
        missions_per_min: Math.round(platform.perMin),
        baseline_bullmq_jobs_per_min: Math.round(rawPerMin),
        ratio: Math.round((platform.perMin / rawPerMin) * 100) / 100,
        worker_concurrency: 100,
      },
      sandboxed: {
        missions_per_min: Math.round(sandboxed.perMin),
        bare_sandbox_starts_per_min: Math.round(bare.perMin),
        ratio: Math.round((sandboxed.perMin / bare.perMin) * 100) / 100,
        host_cpu_s_per_mission: Math.round(sandboxed.cpuPerMission * 100) / 100,
        host_cpu_s_per_bare_start: Math.round(bare.cpuPerStart * 100) / 100,
        sandboxes_held_high_water: sandboxed.heldHighWater,
        sandboxes_bound: sandboxed.bound,
        parallel: PARALLEL,
      },
      pickup_ms: { p50: quantile(platform.pickups, 0.5), p99: quantile(platform.pickups, 0.99), samples: PICKUPS },
      pickup_ms_sim_in_flight: { p50: quantile(sim.pickups, 0.5), p99: quantile(sim.pickups, 0.99), samples: PICKUPS, in_flight: sim.inFlightDuringPickups },
      // Measured in the benchmark's own process, which also holds the submitter: an upper bound for the worker.
      sim_inflight: { missions: sim.peakInFlight, peak_rss_mb: sim.peakRssMb, submitted: SIM_MISSIONS, think_ms: SIM_THINK_MS },
      writer: {
        rows_per_s: Math.round(grouped),
        flush_p99_ms: quantile(flushes, 0.99),
        rows_per_flush: Math.round((grouped * SECONDS) / flushes.length),
        single_row_inserts_per_s: Math.round(single),
        ratio: Math.round((grouped / single) * 10) / 10,
        concurrent_missions: MISSIONS,
      },
      mixed_batch: {
        sandboxed_slot_held_after_outcome_ms: { p50: quantile(mixed.slotHeldMs, 0.5), p90: quantile(mixed.slotHeldMs, 0.9) },
        finish_only_per_min_in_mixed_batch: Math.round(mixed.mixedPerMin),
        finish_only_per_min_alone: Math.round(mixed.alonePerMin),
        ratio: Math.round((mixed.mixedPerMin / mixed.alonePerMin) * 100) / 100,
        worker_concurrency: MIXED_SLOTS,
        missions: { finish_only: MIXED_FINISH_ONLY, sandboxed: MIXED_SANDBOXED },
      },
    }, [
      { name: 'missions without a sandbox, one worker', value: Math.round(platform.perMin), unit: '/min', baseline: { name: 'raw BullMQ no-op jobs', value: Math.round(rawPerMin) }, target: { on: 'value', atLeast: 60_000 } },
      { name: 'pickup p99, idle worker', value: quantile(platform.pickups, 0.99), unit: 'ms', target: { on: 'value', atMost: 20 } },
      { name: `pickup p99, ${SIM_MISSIONS} sim missions in flight`, value: quantile(sim.pickups, 0.99), unit: 'ms', baseline: { name: 'idle p99', value: quantile(platform.pickups, 0.99) }, target: { on: 'value', atMost: 50 } },
      { name: 'sim missions in flight in one worker', value: sim.peakInFlight, unit: 'missions', target: { on: 'value', atLeast: SIM_MISSIONS } },
      { name: 'peak RSS meanwhile', value: sim.peakRssMb, unit: 'MiB', target: { on: 'value', atMost: 2_048 } },
      { name: `steps persisted, ${MISSIONS} missions awaiting a step`, value: Math.round(grouped), unit: 'rows/s', baseline: { name: 'single-row inserts', value: Math.round(single) }, target: { on: 'value', atLeast: 20_000 } },
      { name: 'step flush p99', value: quantile(flushes, 0.99), unit: 'ms', target: { on: 'value', atMost: 50 } },
      { name: 'missions with one sandboxed step', value: Math.round(sandboxed.perMin), unit: '/min', baseline: { name: 'bare sandbox starts', value: Math.round(bare.perMin) }, target: { on: 'ratio', atLeast: 0.8 } },
      { name: 'host CPU per sandboxed mission', value: Math.round(sandboxed.cpuPerMission * 100) / 100, unit: 's', baseline: { name: 'per bare sandbox start', value: Math.round(bare.cpuPerStart * 100) / 100 } },
      { name: 'sandboxes held at most by the worker', value: sandboxed.heldHighWater, unit: 'sandboxes', target: { on: 'value', atMost: sandboxed.bound } },
      { name: 'finish-only missions beside sandboxed ones', value: Math.round(mixed.mixedPerMin), unit: '/min', baseline: { name: 'finish-only alone', value: Math.round(mixed.alonePerMin) } },
    ]);
  } finally {
    await dropSchema(db, config.DATABASE_SCHEMA);
    await dropQueueKeys(config.REDIS_URL, config.QUEUE_PREFIX);
  }
}

runBenchmark(main);

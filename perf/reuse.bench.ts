// `npm run perf -- reuse` (after `npm run bootstrap`): one-step sandboxed missions through one worker, in fresh
// sandboxes (SANDBOX_REUSE=off) and in sandboxes reset and reused within their tenant (SANDBOX_REUSE=tenant),
// each with the host CPU per mission and the most sandboxes the worker held, beside bare sandbox starts through
// Docker (create, start, remove) in the same run.
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { dropQueueKeys, dropSchema, freshSchema, runBenchmark } from './benchmark';
import { bareStarts, sandboxedMissions } from './sandboxedMissions';
import { writeResult } from './stats';

const FRESH_MISSIONS = 60;
const REUSED_MISSIONS = Number(process.env.PERF_REUSED_MISSIONS ?? 1_000);
const BARE_STARTS = 40;
const PARALLEL = 2; // two cores: fresh sandboxes start two at a time, as the bare loop does
const REUSE_CONCURRENCY = Number(process.env.PERF_REUSE_CONCURRENCY ?? 4);
const benchEnv = {
  ...process.env,
  DATABASE_SCHEMA: 'perf_reuse',
  QUEUE_PREFIX: '{perf-reuse}',
  MAX_RUNNING_PER_TENANT: '1000000',
  SANDBOX_POOL_SIZE: String(PARALLEL),
  LOG_LEVEL: 'silent',
};
const config = loadConfig(benchEnv);
const round = (value: number, places = 0) => Math.round(value * 10 ** places) / 10 ** places;

async function main(): Promise<void> {
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { poolMax: 6 });
  await freshSchema(db, config.DATABASE_SCHEMA);
  try {
    const bare = await bareStarts(config, BARE_STARTS, PARALLEL);
    const fresh = await sandboxedMissions(db, { ...benchEnv, WORKER_CONCURRENCY: String(PARALLEL) }, FRESH_MISSIONS);
    const reusedEnv = { ...benchEnv, WORKER_CONCURRENCY: String(REUSE_CONCURRENCY), SANDBOX_REUSE: 'tenant' };
    const reused = await sandboxedMissions(db, reusedEnv, REUSED_MISSIONS);
    const shape = (run: typeof fresh, missions: number, concurrency: number) => ({
      missions,
      succeeded: run.succeeded,
      missions_per_min: round(run.perMin),
      ratio_to_bare_starts: round(run.perMin / bare.perMin, 2),
      host_cpu_s_per_mission: round(run.cpuPerMission, 3),
      sandboxes_held_high_water: run.heldHighWater,
      sandboxes_bound: run.bound,
      worker_concurrency: concurrency,
      reuses: run.reuses,
      reset_failures: run.resetFailures,
    });
    writeResult('reuse', {
      bare_starts: { starts: BARE_STARTS, per_min: round(bare.perMin), host_cpu_s_per_start: round(bare.cpuPerStart, 3), parallel: PARALLEL },
      fresh: shape(fresh, FRESH_MISSIONS, PARALLEL),
      reused: shape(reused, REUSED_MISSIONS, REUSE_CONCURRENCY),
    }, [
      { name: 'one-step missions, fresh sandboxes', value: round(fresh.perMin), unit: '/min', baseline: { name: 'bare sandbox starts', value: round(bare.perMin) }, target: { on: 'ratio', atLeast: 0.8 } },
      { name: 'one-step missions, reused within the tenant', value: round(reused.perMin), unit: '/min', baseline: { name: 'bare sandbox starts', value: round(bare.perMin) }, target: { on: 'value', atLeast: 1_000 } },
      { name: 'host CPU per mission, fresh', value: round(fresh.cpuPerMission, 3), unit: 's', baseline: { name: 'per bare start', value: round(bare.cpuPerStart, 3) } },
      { name: 'host CPU per mission, reused', value: round(reused.cpuPerMission, 3), unit: 's', baseline: { name: 'per bare start', value: round(bare.cpuPerStart, 3) } },
      { name: 'sandboxes held at most, reused', value: reused.heldHighWater, unit: 'sandboxes', target: { on: 'value', atMost: reused.bound } },
    ]);
  } finally {
    await dropSchema(db, config.DATABASE_SCHEMA);
    await dropQueueKeys(config.REDIS_URL, config.QUEUE_PREFIX);
  }
}

runBenchmark(main);

// `npm run perf -- retention` (after `npm run bootstrap`): what a mission costs on disk, and what retention does:
// (a) table and index size per 100,000 ended missions of three steps each; (b) a simulated month of 10,000
// missions a day with RETENTION_DAYS=7, purged and vacuumed daily, the size after each day (it should go flat
// after a week); (c) steps written by the group-committing StepWriter while a purge deletes an old backlog, against
// the same writes with no purge, in the same run.
import IORedis from 'ioredis';
import type { Knex } from 'knex';
import { MissionStore } from '../store/missionStore';
import { RetentionPurger } from '../store/retention';
import { StepWriter } from '../store/stepWriter';
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { writeResult } from './stats';
import { freshSchema, dropSchema, runBenchmark } from './benchmark';

const SIZED = 100_000;
const PER_DAY = 10_000;
const DAYS = 30;
const KEEP_DAYS = 7;
const WRITERS = 200;
const WRITE_SECONDS = 5;
const DAY_MS = 86_400_000;
const config = loadConfig({ ...process.env, DATABASE_SCHEMA: 'perf_retention', QUEUE_PREFIX: '{perf-retention}', LOG_LEVEL: 'silent' });
const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { poolMax: 6 });
const TABLES = ['missions', 'steps', 'mission_events'];

/** `count` missions that ended at `at`, each with three steps and their events, written by Postgres itself. */
async function endedMissions(count: number, at: Date): Promise<void> {
  await db.raw(
    `with m as (
       insert into missions (id, tenant_id, goal, spec, status, step_count, created_at, started_at, finished_at)
       select gen_random_uuid(), :tenant, 'a mission of the simulated month', '{"plan": []}', 'succeeded', 3, :at, :at, :at
       from generate_series(1, :count) returning id
     ), s as (
       insert into steps (mission_id, seq, thought, tool, input, observation, exit_code, started_at, finished_at)
       select m.id, seq, 'step ' || seq, 'shell', '{"command": "python3 check.py"}',
         jsonb_build_object('stdout', repeat('ok ', 60), 'stderr', '', 'exit_code', 0), 0, :at, :at
       from m, generate_series(1, 3) as seq returning mission_id, seq
     )
     insert into mission_events (mission_id, type, data, created_at)
     select mission_id, 'step', jsonb_build_object('seq', seq), :at from s`,
    { tenant: ADMIN_TENANT_ID, count, at },
  );
}

async function sizeMb(): Promise<number> {
  const { rows } = await db.raw(`select sum(pg_total_relation_size(format('%I.%I', :schema::text, t))) as bytes from unnest(:tables::text[]) as t`, {
    schema: config.DATABASE_SCHEMA,
    tables: TABLES,
  });
  return Math.round(Number(rows[0].bytes) / 2 ** 20);
}

/** Steps per second written through StepWriter by WRITERS missions, each awaiting its step, for WRITE_SECONDS. */
async function stepsPerSecond(writeDb: Knex): Promise<number> {
  const spec = { goal: 'writes', policy: 'scripted' as const, plan: [], max_steps: 1_000_000, deadline_s: 3_600, metadata: {} };
  const missions = await new MissionStore(writeDb).create(Array.from({ length: WRITERS }, () => ({ tenant_id: ADMIN_TENANT_ID, spec })));
  await writeDb('missions').whereIn('id', missions.map((mission) => mission.id)).update({ status: 'running' });
  const writer = new StepWriter(writeDb);
  const until = Date.now() + WRITE_SECONDS * 1_000;
  let rows = 0;
  await Promise.all(
    missions.map(async ({ id }) => {
      for (let seq = 1; Date.now() < until; seq++) {
        const now = new Date();
        await writer.append({ mission_id: id, seq, thought: null, tool: 'shell', input: {}, observation: { stdout: 'hi' }, exit_code: 0, error: null, started_at: now, finished_at: now, usage: null });
        rows++;
      }
    }),
  );
  return rows / WRITE_SECONDS;
}

async function main(): Promise<void> {
  const redis = new IORedis(config.REDIS_URL);
  // A lease of 1 ms: the benchmark purges as often as it likes.
  const purger = (retentionDays: number, budgetMs = Infinity) => new RetentionPurger(db, redis, config.QUEUE_PREFIX, 'perf', { retentionDays, everyMs: 1, budgetMs });
  try {
    await freshSchema(db, config.DATABASE_SCHEMA);
    await endedMissions(SIZED, new Date());
    await db.raw('vacuum analyze');
    const perHundredThousand = await sizeMb();

    await freshSchema(db, config.DATABASE_SCHEMA);
    const start = Date.now() - DAYS * DAY_MS;
    const byDay: number[] = [];
    for (let day = 1; day <= DAYS; day++) {
      const today = new Date(start + day * DAY_MS);
      await endedMissions(PER_DAY, today);
      await purger(KEEP_DAYS).purge(today);
      await db.raw('vacuum'); // what autovacuum does between purges, so freed pages are used again
      byDay.push(await sizeMb());
    }

    // (c): an old backlog to purge, then the same writes without and with a purge deleting it meanwhile.
    await freshSchema(db, config.DATABASE_SCHEMA);
    await endedMissions(SIZED, new Date(Date.now() - 40 * DAY_MS));
    const alone = await stepsPerSecond(db);
    let purging = true;
    let purgedMissions = 0;
    const purgeLoop = (async () => {
      while (purging) purgedMissions += (await purger(30, 200).purge())?.missions ?? 0;
    })();
    const beside = await stepsPerSecond(db);
    purging = false;
    await purgeLoop;

    const flat = Math.round((byDay[DAYS - 1]! / byDay[KEEP_DAYS + 2]!) * 100) / 100;
    writeResult('retention', {
      size_mb_per_100k_missions: perHundredThousand,
      month: { missions_per_day: PER_DAY, retention_days: KEEP_DAYS, size_mb_by_day: byDay, day_30_over_day_10: flat },
      steps_per_s: { alone: Math.round(alone), during_purge: Math.round(beside), missions_purged_meanwhile: purgedMissions },
    }, [
      { name: 'missions, steps and events on disk per 100,000 missions (3 steps each)', value: perHundredThousand, unit: 'MB' },
      { name: `size on day 30 against day ${KEEP_DAYS + 3}, ${PER_DAY.toLocaleString('en-US')} missions a day, ${KEEP_DAYS} days kept`, value: flat, unit: 'x', target: { on: 'value', atMost: 1.1 } },
      { name: 'steps persisted while a purge runs', value: Math.round(beside), unit: 'rows/s', baseline: { name: 'with no purge', value: Math.round(alone) } },
    ]);
  } finally {
    redis.disconnect();
    await dropSchema(db, config.DATABASE_SCHEMA);
  }
}

runBenchmark(main);

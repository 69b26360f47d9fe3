// `npm run perf -- engine` (after `npm run bootstrap`): the engine's persistence, beside its baseline in the
// same run. So far: (e) steps persisted per second through the group-committing StepWriter against
// single-row inserts. The other parts of issue 5's benchmark are still to come.
import type { Knex } from 'knex';
import type { Step } from '../jobs/mission';
import { MissionStore } from '../jobs/missionStore';
import { StepWriter } from '../jobs/stepWriter';
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { migrateToLatest } from '../migrations';
import { quantile, writeResult } from './stats';

const MISSIONS = Number(process.env.PERF_MISSIONS ?? 200); // missions writing steps at once, each waiting for its step to be durable
const SECONDS = 5;

const config = loadConfig({ ...process.env, DATABASE_SCHEMA: 'perf_engine' });

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
  const spec = { goal: 'bench', policy: 'scripted' as const, plan: [{ tool: 'shell' as const, input: { command: 'true' } }], max_steps: 100_000, metadata: {} };
  const missions = await new MissionStore(db).create(Array.from({ length: MISSIONS }, () => ({ tenant_id: ADMIN_TENANT_ID, spec })));
  return missions.map((mission) => mission.id);
}

async function main(): Promise<void> {
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, 10);
  await db.raw('drop schema if exists ?? cascade', [config.DATABASE_SCHEMA]);
  await migrateToLatest(db, config.DATABASE_SCHEMA);
  try {
    const single = await rowsPerSecond(await freshMissions(db), (row) =>
      db('steps').insert({ ...row, input: JSON.stringify(row.input), observation: JSON.stringify(row.observation) }),
    );
    const writer = new StepWriter(db);
    const flushes: number[] = [];
    writer.on('flushed', (_rows, ms) => flushes.push(ms));
    const grouped = await rowsPerSecond(await freshMissions(db), (row) => writer.append(row));
    writeResult('engine', {
      writer: {
        rows_per_s: Math.round(grouped),
        flush_p99_ms: quantile(flushes, 0.99),
        rows_per_flush: Math.round((grouped * SECONDS) / flushes.length),
        single_row_inserts_per_s: Math.round(single),
        ratio: Math.round((grouped / single) * 10) / 10,
        concurrent_missions: MISSIONS,
      },
      targets: { writer_rows_per_s: 20_000, writer_flush_p99_ms: 50 },
      not_yet_measured: ['no_sandbox', 'sandboxed', 'pickup_ms', 'sim_inflight'],
    });
  } finally {
    await db.raw('drop schema if exists ?? cascade', [config.DATABASE_SCHEMA]);
    await db.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

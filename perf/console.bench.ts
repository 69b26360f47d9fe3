// `npm run perf -- console` (after `npm run bootstrap`): a mission page with 1,000 steps, against the same steps
// as JSON from the API in the same run: the server's answer (render and transfer) and the whole load in Chromium
// (HTML, styles, scripts, layout, until the load event). DESIGN.md's target: it loads in under a second.
import { chromium } from 'playwright-core';
import type { MissionSpec } from '../jobs/mission';
import { MissionStore } from '../store/missionStore';
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { startApiProcess, stopApiProcess } from './apiProcess';
import { percentiles, timed, writeResult } from './stats';
import { freshSchema, dropSchema, runBenchmark } from './benchmark';

const STEPS = 1_000;
const ROUNDS = 20;
const LOADS = 10;
const PORT = 3904;
const env = { ...process.env, DATABASE_SCHEMA: 'perf_console', QUEUE_PREFIX: '{perf-console}', LOG_LEVEL: 'warn', PORT: String(PORT) };
const config = loadConfig(env);
const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { poolMax: 2 });
const base = `http://127.0.0.1:${PORT}`;

/** A finished mission of STEPS shell steps, each with a thought, a command and a few lines of output. */
async function longMission(): Promise<string> {
  const spec = { goal: 'a long mission', policy: 'scripted', plan: [{ tool: 'shell', input: { command: 'true' } }], max_steps: STEPS, deadline_s: 3_600, metadata: {} } as MissionSpec;
  const [mission] = await new MissionStore(db).create([{ tenant_id: ADMIN_TENANT_ID, spec }]);
  const started = Date.now() - STEPS * 120;
  await db.raw(
    `insert into steps (mission_id, seq, thought, tool, input, observation, exit_code, error, started_at, finished_at)
     select :id, seq, 'step ' || seq || ': look at the next file', 'shell', jsonb_build_object('command', 'wc -l /workspace/file-' || seq),
       jsonb_build_object('exit_code', 0, 'timed_out', false, 'signal', null, 'stdout', repeat('line of output ' || seq || E'\\n', 8), 'stderr', '',
         'stdout_bytes', 200, 'stderr_bytes', 0, 'duration_ms', 60),
       0, null, to_timestamp((:started::bigint + seq * 120) / 1000.0), to_timestamp((:started::bigint + seq * 120 + 60) / 1000.0)
     from generate_series(1, :steps) as seq`,
    { id: mission!.id, started, steps: STEPS },
  );
  await db.raw(
    `update missions set status = 'succeeded', step_count = :steps, started_at = to_timestamp(:started::bigint / 1000.0),
       finished_at = to_timestamp((:started::bigint + (:steps + 1) * 120) / 1000.0) where id = :id`,
    { id: mission!.id, started, steps: STEPS },
  );
  return mission!.id;
}

async function rounds(url: string, headers: Record<string, string>): Promise<{ ms: number[]; bytes: number }> {
  const ms: number[] = [];
  let bytes = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    const [took, body] = await timed(async () => (await fetch(url, { headers })).arrayBuffer());
    if (round > 0) ms.push(took); // the first warms the JIT and Postgres's cache
    bytes = body.byteLength;
  }
  return { ms, bytes };
}

async function main(): Promise<void> {
  await freshSchema(db, config.DATABASE_SCHEMA);
  const id = await longMission();
  const api = await startApiProcess(env, PORT);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const login = await fetch(`${base}/console/login`, { method: 'POST', body: new URLSearchParams({ key: config.ADMIN_API_KEY }), redirect: 'manual' });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const json = await rounds(`${base}/v1/missions/${id}/steps?limit=${STEPS}`, { authorization: `Bearer ${config.ADMIN_API_KEY}` });
    const page = await rounds(`${base}/console/missions/${id}`, { cookie });

    const context = await browser.newContext();
    await context.addCookies([{ name: cookie.split('=')[0]!, value: cookie.slice(cookie.indexOf('=') + 1), url: base }]);
    const tab = await context.newPage();
    const loads: number[] = [];
    for (let round = 0; round <= LOADS; round++) {
      const [took] = await timed(() => tab.goto(`${base}/console/missions/${id}`, { waitUntil: 'load' }));
      if (round > 0) loads.push(took);
    }
    if ((await tab.locator('li.step').count()) !== STEPS) throw new Error('the page does not show every step');

    const [jsonMs, pageMs, loadMs] = [percentiles(json.ms), percentiles(page.ms), percentiles(loads)];
    writeResult('console', {
      steps: STEPS,
      page_kb: Math.round(page.bytes / 1024),
      json_kb: Math.round(json.bytes / 1024),
      server_ms: pageMs,
      baseline_json_steps_ms: jsonMs,
      ratio_p50: Math.round((pageMs.p50 / jsonMs.p50) * 100) / 100,
      browser_load_ms: loadMs,
    }, [
      { name: `mission page of ${STEPS.toLocaleString('en-US')} steps, loaded in Chromium (p50)`, value: loadMs.p50, unit: 'ms', target: { on: 'value', atMost: 1_000 } },
      { name: 'the same page, server answer (p50)', value: pageMs.p50, unit: 'ms', baseline: { name: 'the same steps as JSON, GET /v1/missions/:id/steps', value: jsonMs.p50 } },
    ]);
  } finally {
    await browser.close();
    await stopApiProcess(api);
    await dropSchema(db, config.DATABASE_SCHEMA);
  }
}

runBenchmark(main);

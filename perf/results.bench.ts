// `npm run perf -- results` (after `npm run bootstrap`): the results file of a 100,000-mission batch, read over
// HTTP from an API process of its own while its memory is sampled, beside a keyset scan of the same rows
// straight from Postgres in the same run (the floor: what reading them costs before any line is made).
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { BatchStore } from '../store/batches/batchStore';
import type { MissionSpec } from '../jobs/mission';
import { MissionStore } from '../store/missionStore';
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { startApiProcess, stopApiProcess } from './apiProcess';
import { writeResult } from './stats';
import { freshSchema, dropSchema, runBenchmark } from './benchmark';

const MISSIONS = 100_000;
const PAGE = 1_000;
const PORT = 3903;
const env = { ...process.env, DATABASE_SCHEMA: 'perf_results', QUEUE_PREFIX: '{perf-results}', LOG_LEVEL: 'warn', PORT: String(PORT) };
const config = loadConfig(env);
const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { poolMax: 2 });
const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/** A finished batch of MISSIONS items, as an evaluation leaves it: each with its custom id, result and times. */
async function finishedBatch(): Promise<string> {
  const spec = { goal: 'benchmark', policy: 'scripted', plan: [{ tool: 'finish', input: { result: 1 } }], max_steps: 1, deadline_s: 60, metadata: {} } as MissionSpec;
  const { batchId } = await new BatchStore(db, new MissionStore(db)).create(ADMIN_TENANT_ID, Array.from({ length: MISSIONS }, (_, i) => ({ ...spec, custom_id: `case-${i}` })), MISSIONS);
  await db.raw(
    `update missions set status = 'succeeded', result = jsonb_build_object('answer', item, 'passed', true), started_at = created_at,
       finished_at = created_at + interval '1.5 s', input_tokens = 1200, output_tokens = 300 where batch_id = ?`,
    [batchId],
  );
  await db.raw('vacuum analyze missions');
  return batchId;
}

/** The floor: the same rows in the same order, by keyset, as rows, with nothing made of them. */
async function keysetScan(batchId: string): Promise<number> {
  const started = performance.now();
  let after: [number, number, number] = [-1, 0, 0];
  let rows = 0;
  for (;;) {
    const page = await db('missions').where({ batch_id: batchId }).whereRaw('(item, epoch, attempt) > (?, ?, ?)', after).whereNull('superseded_by').orderBy(['item', 'epoch', 'attempt']).limit(PAGE).select('*');
    rows += page.length;
    if (page.length < PAGE) break;
    after = [page.at(-1).item, page.at(-1).epoch, page.at(-1).attempt];
  }
  if (rows !== MISSIONS) throw new Error(`scanned ${rows} rows`);
  return rows / ((performance.now() - started) / 1000);
}

/** The results file over HTTP: lines per second, and how much the API's memory grew while it sent them. */
async function exportOverHttp(batchId: string, apiPid: number): Promise<{ linesPerSecond: number; rssGrowthMb: number; bytes: number }> {
  const before = rssOf(apiPid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(apiPid))), 20);
  const started = performance.now();
  const response = await new Promise<import('node:http').IncomingMessage>((resolve) =>
    get(`http://127.0.0.1:${PORT}/v1/batches/${batchId}/results`, { headers: { authorization: `Bearer ${config.ADMIN_API_KEY}` } }, resolve),
  );
  let lines = 0;
  let bytes = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    for (const byte of chunk) if (byte === 10) lines++;
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  if (lines !== MISSIONS) throw new Error(`exported ${lines} lines`);
  return { linesPerSecond: lines / seconds, rssGrowthMb: Math.round((peak - before) / 2 ** 20), bytes };
}

async function main(): Promise<void> {
  await freshSchema(db, config.DATABASE_SCHEMA);
  const batchId = await finishedBatch();
  const api = await startApiProcess(env, PORT);
  try {
    // Each once unmeasured, so both run warm (JIT-compiled, Postgres's pages cached).
    await keysetScan(batchId);
    await exportOverHttp(batchId, api.pid!);
    const scan = await keysetScan(batchId);
    const exported = await exportOverHttp(batchId, api.pid!);
    writeResult('results', {
      missions: MISSIONS,
      file_mb: Math.round(exported.bytes / 2 ** 20),
      export_lines_per_s: Math.round(exported.linesPerSecond),
      api_rss_growth_mb: exported.rssGrowthMb,
      baseline_keyset_scan_rows_per_s: Math.round(scan),
    }, [
      { name: `results file of ${MISSIONS.toLocaleString('en-US')} missions over HTTP`, value: Math.round(exported.linesPerSecond), unit: 'lines/s', baseline: { name: 'keyset scan of the rows', value: Math.round(scan) }, target: { on: 'value', atLeast: 20_000 } },
      { name: "the API's memory growth while exporting", value: exported.rssGrowthMb, unit: 'MB' },
    ]);
  } finally {
    await stopApiProcess(api);
    await dropSchema(db, config.DATABASE_SCHEMA);
  }
}

runBenchmark(main);

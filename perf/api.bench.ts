// `npm run perf -- api` (after `npm run bootstrap`): the API under autocannon at 50 connections, beside a bare
// Express echo route measured the same way in the same run, and the time to accept one batch of 10,000.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { percentiles, timed, writeResult } from './stats';
import { dropQueueKeys, freshSchema, runBenchmark } from './benchmark';

const CONNECTIONS = 50;
const DURATION_S = 10;
const WARM_UP_S = 3; // each route is loaded this long first, unmeasured, so both servers run JIT-compiled code
const BATCHES = 3;
const API_PORT = 3901;
const ECHO_PORT = 3902;

const env = {
  ...process.env,
  DATABASE_SCHEMA: 'perf_api',
  QUEUE_PREFIX: '{perf-api}',
  RATE_LIMIT_PER_MINUTE: '100000000',
  LOG_LEVEL: 'warn',
};
const config = loadConfig(env);
const auth = { authorization: `Bearer ${config.ADMIN_API_KEY}`, 'content-type': 'application/json' };
const mission = { goal: 'benchmark', plan: [{ tool: 'shell', input: { command: 'echo hi' } }] };

/** Runs a server entry point in a process of its own, so autocannon and the server do not share a thread. */
async function serve(entry: string, port: number): Promise<ChildProcess> {
  const child = fork(join(__dirname, '..', entry), [], { env: { ...env, PORT: String(port) }, execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  // Up once it answers at all (the echo server answers /healthz with a 404).
  for (let i = 0; i < 200; i++) {
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then(() => true, () => false)) return child;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${entry} did not start`);
}

async function load(url: string, options: { method?: 'GET' | 'POST'; body?: string } = {}) {
  const run = (duration: number) => autocannon({ url, connections: CONNECTIONS, duration, headers: auth, method: options.method ?? 'GET', body: options.body });
  await run(WARM_UP_S);
  const result = await run(DURATION_S);
  return {
    req_per_s: Math.round(result.requests.average),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

async function resetState(): Promise<void> {
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { poolMax: 1 });
  await freshSchema(db, config.DATABASE_SCHEMA);
  await db.destroy();
  await dropQueueKeys(config.REDIS_URL, config.QUEUE_PREFIX);
}

async function main(): Promise<void> {
  await resetState();
  const echo = await serve('perf/servers/echo.ts', ECHO_PORT);
  const api = await serve('apps/api.ts', API_PORT);
  const base = `http://127.0.0.1:${API_PORT}`;
  try {
    const baseline_echo = await load(`http://127.0.0.1:${ECHO_PORT}/echo`, { method: 'POST', body: JSON.stringify(mission) });
    const post_mission = await load(`${base}/v1/missions`, { method: 'POST', body: JSON.stringify(mission) });
    const { id } = (await (await fetch(`${base}/v1/missions`, { method: 'POST', headers: auth, body: JSON.stringify(mission) })).json()) as { id: string };
    const get_mission = await load(`${base}/v1/missions/${id}`);
    const list_missions = await load(`${base}/v1/missions?limit=50`);
    const healthz = await load(`${base}/healthz`);

    const batch = JSON.stringify({ missions: Array.from({ length: 10_000 }, (_, i) => ({ ...mission, metadata: { i } })) });
    const batchTimes: number[] = [];
    for (let i = 0; i < BATCHES; i++) {
      const [ms, response] = await timed(() => fetch(`${base}/v1/missions/batch`, { method: 'POST', headers: auth, body: batch }));
      if (response.status !== 202) throw new Error(`batch: ${response.status} ${await response.text()}`);
      batchTimes.push(ms);
    }
    const batch_10k_accept_ms = percentiles(batchTimes).p50;
    writeResult('api', {
      connections: CONNECTIONS,
      duration_s: DURATION_S,
      warm_up_s: WARM_UP_S,
      post_mission,
      get_mission,
      list_missions,
      healthz,
      baseline_echo,
      post_ratio: Math.round((post_mission.req_per_s / baseline_echo.req_per_s) * 100) / 100,
      batch_10k_accept_ms,
      batch_10k_accept_ms_each: batchTimes.map(Math.round),
    }, [
      { name: `POST /v1/missions, ${CONNECTIONS} connections`, value: post_mission.req_per_s, unit: 'req/s', baseline: { name: 'bare Express echo', value: baseline_echo.req_per_s }, target: { on: 'ratio', atLeast: 0.5 } },
      { name: 'POST /v1/missions p99', value: post_mission.p99_ms, unit: 'ms', baseline: { name: 'echo p99', value: baseline_echo.p99_ms }, target: { on: 'value', atMost: 50 } },
      { name: 'batch of 10,000 accepted (p50 of 3)', value: Math.round(batch_10k_accept_ms), unit: 'ms', target: { on: 'value', atMost: 1_500 } },
    ]);
  } finally {
    for (const child of [api, echo]) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await resetState();
  }
}

runBenchmark(main);

// `npm run demo`: starts the API and a worker, submits examples/missions.json through the HTTP API,
// waits for every mission, prints a table of outcomes and shuts everything down.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startApi } from '../apps/api';
import { DEFAULT_ADMIN_KEY, loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { startWorker } from '../apps/worker';

interface MissionJson {
  id: string;
  goal: string;
  status: string;
  step_count: number;
  duration_ms: number | null;
  result: { output?: string } | null;
  error: { message: string } | null;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);
const WAIT_MS = 120_000;

async function main(): Promise<number> {
  const examples = JSON.parse(readFileSync(join(__dirname, '..', 'examples', 'missions.json'), 'utf8')) as object[];
  // One warm sandbox and one worker slot per example mission, unless the environment says otherwise.
  const perMission = String(examples.length);
  const config = loadConfig({ LOG_LEVEL: 'warn', SANDBOX_POOL_SIZE: perMission, WORKER_CONCURRENCY: perMission, ...process.env, PORT: '0' });
  const logger = createLogger(config.LOG_LEVEL, 'demo');
  const worker = await startWorker(config, logger);
  const api = await startApi(config, logger);
  try {
    // A worker fills its pool of warm sandboxes as it starts; missions submitted now acquire them at once.
    while (worker.pool.stats().idle < config.SANDBOX_POOL_SIZE) await new Promise((resolve) => setTimeout(resolve, 20));
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`http://127.0.0.1:${api.port}${path}`, {
        method,
        headers: { authorization: `Bearer ${config.ADMIN_API_KEY}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
      return (await response.json()) as MissionJson;
    };
    const started = Date.now();
    const submitted = await Promise.all(examples.map((mission) => call('POST', '/v1/missions', mission)));
    console.log(`submitted ${submitted.length} missions; each runs in its own gVisor sandbox\n`);

    const finished: MissionJson[] = [];
    for (const { id } of submitted) {
      let mission = await call('GET', `/v1/missions/${id}`);
      while (!TERMINAL.has(mission.status) && Date.now() - started < WAIT_MS) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        mission = await call('GET', `/v1/missions/${id}`);
      }
      finished.push(mission);
    }
    printTable(finished);
    const unfinished = finished.filter((mission) => !TERMINAL.has(mission.status)).length;
    console.log(`\nall done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    printConsoleHint(finished);
    return unfinished === 0 ? 0 : 1;
  } finally {
    await api.close();
    await worker.close();
  }
}

/** Where to look at the missions' traces: the console of `npm start`, signed in with the admin key. */
function printConsoleHint(missions: MissionJson[]): void {
  const served = loadConfig(process.env);
  const key = served.ADMIN_API_KEY === DEFAULT_ADMIN_KEY ? `the admin key ${DEFAULT_ADMIN_KEY}` : 'your ADMIN_API_KEY';
  const failed = missions.find((mission) => mission.status === 'failed') ?? missions[0];
  console.log(`\nsee their traces in the console: run \`npm start\`, open http://127.0.0.1:${served.PORT}/console and sign in with ${key}`);
  if (failed) console.log(`the one that failed: http://127.0.0.1:${served.PORT}/console/missions/${failed.id}`);
}

function printTable(missions: MissionJson[]): void {
  const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 60);
  const rows = missions.map((m) => [
    m.id.slice(-12),
    m.status,
    String(m.step_count),
    m.duration_ms === null ? '-' : `${m.duration_ms} ms`,
    oneLine(m.error?.message ?? m.result?.output ?? ''),
  ]);
  const header = ['mission', 'status', 'steps', 'duration', 'outcome'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(line(header));
  console.log(line(widths.map((width) => '-'.repeat(width))));
  rows.forEach((row) => console.log(line(row)));
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);

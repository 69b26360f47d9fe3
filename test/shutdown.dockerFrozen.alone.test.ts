import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { startApi, type RunningApi } from '../apps/api';
import { createTestEnv, removeSandboxes, sandboxesOf, testLogger, type TestEnv } from './harness';
import { shell } from './platform';
import { forkWorker, stopProcess } from './processes';
import { freezeDockerd } from './services';
import { waitFor } from './waitFor';

// Freezes the shared dockerd, so it runs alone, after the rest of the suite (jest.alone.config.js).
const SHUTDOWN_TIMEOUT_MS = 4_000;
// What a process needs beyond its deadline to exit and be reaped, on a loaded machine.
const EXIT_MARGIN_MS = 1_000;

let env: TestEnv;
let api: RunningApi;
let logDir: string;
const children: ChildProcess[] = [];
const workerId = `frozen-docker-${process.pid}`;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startApi(env.config, testLogger());
  logDir = mkdtempSync(join(tmpdir(), 'frozen-docker-'));
});
afterAll(async () => {
  for (const child of children) await stopProcess(child, 'SIGKILL');
  await api?.close();
  await removeSandboxes(workerId);
  await env?.cleanup();
  rmSync(logDir, { recursive: true, force: true });
});

async function submit(missions: object[]): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${api.port}/v1/missions/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.config.ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ missions }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { items: { id: string }[] }).items.map((item) => item.id);
}

test('a worker whose Docker stops answering ends its shutdown by the deadline: missions handed back, exit 0, its sandboxes left to a reaper that removes them', async () => {
  const logFile = join(logDir, 'worker.log');
  const worker = forkWorker(env.config, workerId, { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), WORKER_CONCURRENCY: '2', SANDBOX_POOL_SIZE: '1' }, logFile);
  children.push(worker);
  const exited = once(worker, 'exit');
  const ids = await submit([0, 1].map((i) => ({ goal: `sleeps ${i}`, plan: [shell('sleep 60')] })));
  await waitFor(async () => (await env.db('missions').whereIn('id', ids).where({ step_claimed: 1, worker_id: workerId })).length === 2, 60_000, 'both steps started');
  const sandboxes = (await sandboxesOf(workerId)).map((container) => container.Id);

  const thaw = freezeDockerd();
  let stoppedAfter: number;
  let code: number | null;
  try {
    const signalled = Date.now();
    worker.kill('SIGTERM');
    [code] = (await exited) as [number | null];
    stoppedAfter = Date.now() - signalled;
  } finally {
    thaw();
  }

  expect(stoppedAfter).toBeLessThan(SHUTDOWN_TIMEOUT_MS + EXIT_MARGIN_MS);
  expect(code).toBe(0);
  expect(await env.db('missions').whereIn('id', ids).pluck('status')).toEqual(['queued', 'queued']);
  expect(readFileSync(logFile, 'utf8')).toContain('the deadline came before every sandbox was removed: the reapers of the fleet remove the rest');
  const left = (await sandboxesOf(workerId)).map((container) => container.Id);
  expect(left.length).toBeGreaterThan(0);
  expect(sandboxes.filter((id) => left.includes(id))).not.toEqual([]);

  // The same worker started again removes what its earlier life left, at once (the missions are cancelled
  // first, so it does not run them again).
  for (const id of ids) await fetch(`http://127.0.0.1:${api.port}/v1/missions/${id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${env.config.ADMIN_API_KEY}` } });
  const again = forkWorker(env.config, workerId, { SANDBOX_POOL_SIZE: '0' });
  children.push(again);
  await waitFor(async () => (await sandboxesOf(workerId)).every((container) => !left.includes(container.Id)), 60_000, 'the sandboxes left behind removed');
  await stopProcess(again);
});

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startApi } from '../apps/api';
import { createTestEnv, removeSandboxes, sandboxesOf, testLogger, type TestEnv } from './harness';
import { forkWorker, serviceEnv, stopProcess } from './processes';
import { waitFor } from './waitFor';
import { freePort } from './services';
import { shell } from './platform';

// The process as `npm start` runs it (built with tsc, run by node, under npm), stopped the ways operators and
// supervisors stop it, beside a second worker that takes over what it hands back.
jest.setTimeout(180_000);
// What a process needs beyond its deadline to exit, on a loaded machine.
const EXIT_MARGIN_MS = 1_000;
// What a supervisor should allow beyond the deadline for a whole process group (npm waits for node, then exits):
// the grace docs/operations.md and the Kubernetes manifests give. Once, in a full suite, a group took 1.5 s.
const GROUP_EXIT_GRACE_MS = 5_000;

let env: TestEnv;
let port: number;
const children: ChildProcess[] = [];
const mainId = `shutdown-main-${process.pid}`;
const otherId = `shutdown-other-${process.pid}`;

beforeAll(async () => {
  env = await createTestEnv();
  port = await freePort();
});
afterAll(async () => {
  for (const child of children) await stopProcess(child, 'SIGKILL');
  for (const id of [mainId, otherId]) await removeSandboxes(id);
  await env?.cleanup();
});

/** `npm start` in a process group of its own, as a terminal or a supervisor runs it. */
function npmStart(settings: Record<string, string>): ChildProcess {
  const child = spawn('npm', ['start'], {
    cwd: join(__dirname, '..'),
    detached: true,
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, ...serviceEnv(env.config), PORT: String(port), WORKER_ID: mainId, LOG_LEVEL: 'info', ...settings },
  });
  children.push(child);
  return child;
}

/** The log lines a process writes, parsed as they come. */
function logLines(child: ChildProcess): { msg: string; time: number; clean?: boolean }[] {
  const lines: { msg: string; time: number; clean?: boolean }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line.startsWith('{')) lines.push(JSON.parse(line));
  });
  return lines;
}

async function submit(apiPort: number, missions: object[]): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${apiPort}/v1/missions/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.config.ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ missions }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { items: { id: string }[] }).items.map((item) => item.id);
}

const running = async (workerId: string) => Number((await env.db('missions').where({ status: 'running', worker_id: workerId }).count({ n: '*' }))[0]!.n);

test('a group SIGTERM, sent twice, drains npm start holding four sandboxed missions within its deadline: handed back, resumed at once elsewhere, no sandbox left', async () => {
  const timeoutMs = 6_000;
  const main = npmStart({ SHUTDOWN_TIMEOUT_MS: String(timeoutMs), WORKER_CONCURRENCY: '4', SANDBOX_POOL_SIZE: '2' });
  const exited = once(main, 'exit');
  const logged = logLines(main);
  await waitFor(() => fetch(`http://127.0.0.1:${port}/healthz`).then((response) => response.ok, () => false), 90_000, 'npm start up');
  const ids = await submit(port, Array.from({ length: 4 }, (_, i) => ({ goal: `long ${i}`, plan: [shell('sleep 2'), shell('sleep 30'), shell('echo done')] })));
  await waitFor(async () => (await running(mainId)) === 4, 60_000, 'four missions running');
  const other = forkWorker(env.config, otherId, { WORKER_CONCURRENCY: '4', SANDBOX_POOL_SIZE: '1' });
  children.push(other);

  const signalled = Date.now();
  process.kill(-main.pid!, 'SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 200));
  process.kill(-main.pid!, 'SIGTERM');
  await exited;
  await waitFor(async () => {
    try {
      process.kill(-main.pid!, 0);
      return false;
    } catch {
      return true;
    }
  }, 15_000, 'every process of the group gone');

  // Cleanly within the deadline by the process's own clock, and not at once: it drained until the deadline neared
  // (at most half of it is kept for handing back and removing sandboxes), then handed back. The whole group within
  // the grace a supervisor gives.
  const shuttingDown = logged.find((line) => line.msg === 'shutting down')!;
  const exiting = logged.find((line) => line.msg === 'exiting')!;
  expect(exiting.clean).toBe(true);
  expect(exiting.time - shuttingDown.time).toBeGreaterThan(timeoutMs / 2);
  expect(exiting.time - shuttingDown.time).toBeLessThan(timeoutMs + EXIT_MARGIN_MS);
  expect(Date.now() - signalled).toBeLessThan(timeoutMs + GROUP_EXIT_GRACE_MS);
  expect(await sandboxesOf(mainId)).toEqual([]);
  expect(await running(mainId)).toBe(0);
  const handedBack = await env.db('mission_events').whereIn('mission_id', ids).whereRaw(`data->>'handed_back_by' = ?`, [mainId]).select('mission_id', 'created_at');
  expect(handedBack).toHaveLength(4);
  // Resumed elsewhere at once, well before a lock would have expired (WORKER_LOCK_MS, 30 s).
  await waitFor(async () => (await running(otherId)) === 4, 20_000, 'resumed by the other worker');
  const workers = await env.db('missions').whereIn('id', ids).select('workers');
  expect(workers.map((row: { workers: string[] }) => row.workers)).toEqual(ids.map(() => [mainId, otherId]));
});

test('the deadline ends a worker holding a sleep 60 step within a second of it, and hands the mission back', async () => {
  for (const child of children) await stopProcess(child, 'SIGKILL');
  await env.db('missions').whereIn('status', ['queued', 'running']).update({ status: 'cancelled' });
  const workerId = `${mainId}-deadline`;
  const worker = forkWorker(env.config, workerId, { SHUTDOWN_TIMEOUT_MS: '3000', SANDBOX_POOL_SIZE: '1' });
  children.push(worker);
  const exited = once(worker, 'exit');
  const api = await startApi(env.config, testLogger());
  try {
    const [id] = await submit(api.port, [{ goal: 'sleeps', plan: [shell('sleep 60')] }]);
    await waitFor(async () => (await env.db('missions').where({ id, step_claimed: 1, worker_id: workerId }).first()) !== undefined, 60_000, 'the step started');

    const signalled = Date.now();
    worker.kill('SIGTERM');
    const [code] = await exited;

    expect(Date.now() - signalled).toBeLessThan(3_000 + EXIT_MARGIN_MS);
    expect(code).toBe(0);
    expect(await env.db('missions').where({ id }).first('status', 'step_count')).toEqual({ status: 'queued', step_count: 0 });
    expect(await sandboxesOf(workerId)).toEqual([]);
  } finally {
    await api.close();
    await removeSandboxes(workerId);
  }
});

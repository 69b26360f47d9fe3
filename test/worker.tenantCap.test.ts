import type { ChildProcess } from 'node:child_process';
import { startApi, type RunningApi } from '../apps/api';
import { createTestEnv, removeSandboxes, testLogger, type TestEnv } from './harness';
import { forkWorker, stopProcess } from './processes';
import { waitFor } from './waitFor';
import { shell } from './platform';

// The per-tenant cap across several worker processes, each leasing slots from Redis in blocks.
let env: TestEnv;
let api: RunningApi;
const workers: ChildProcess[] = [];
const ids = [`cap-a-${process.pid}`, `cap-b-${process.pid}`];

beforeAll(async () => {
  env = await createTestEnv({ MAX_RUNNING_PER_TENANT: '3' });
  api = await startApi(env.config, testLogger());
  for (const id of ids) workers.push(forkWorker(env.config, id, { MAX_RUNNING_PER_TENANT: '3', WORKER_CONCURRENCY: '4', SANDBOX_POOL_SIZE: '2' }));
});
afterAll(async () => {
  for (const worker of workers) await stopProcess(worker);
  for (const id of ids) await removeSandboxes(id);
  await api?.close();
  await env?.cleanup();
});

const post = async (path: string, body: object, key = env.config.ADMIN_API_KEY) =>
  fetch(`http://127.0.0.1:${api.port}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

test('two workers with eight slots between them run at most three missions of a tenant capped at three, while another tenant runs too', async () => {
  // The cap holds while another tenant contends (a tenant alone is not capped): one ran a mission just now.
  const other = (await (await post('/v1/admin/tenants', { name: 'other' })).json()) as { api_key: string };
  const created = (await (await post('/v1/missions', { goal: 'contends', plan: [shell('echo here')] }, other.api_key)).json()) as { id: string };
  await waitFor(async () => (await env.db('missions').where({ id: created.id }).first('status')).status === 'succeeded', 60_000, "the other tenant's mission");
  const missions = Array.from({ length: 12 }, (_, i) => ({ goal: `capped ${i}`, plan: [shell('sleep 0.7')] }));
  const response = await post('/v1/missions/batch', { missions });
  expect(response.status).toBe(202);

  let mostRunning = 0;
  await waitFor(async () => {
    const counts = Object.fromEntries(
      ((await env.db('missions').groupBy('status').select('status').count({ n: '*' })) as { status: string; n: string }[]).map((row) => [row.status, Number(row.n)]),
    );
    mostRunning = Math.max(mostRunning, counts.running ?? 0);
    return counts.succeeded === 13;
  }, 90_000, 'all succeeded');

  expect(mostRunning).toBeGreaterThanOrEqual(2);
  expect(mostRunning).toBeLessThanOrEqual(3);
});

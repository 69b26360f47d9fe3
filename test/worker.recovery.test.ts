import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import IORedis from 'ioredis';
import { createTestEnv, removeSandboxes, sandboxesOf, testLogger, type TestEnv } from './harness';
import { startApi, type RunningApi } from '../apps/api';
import { forkWorker, stopProcess } from './processes';
import { waitFor } from './waitFor';

// Two real worker processes; one is SIGKILLed in the middle of 50 four-step missions.
jest.setTimeout(240_000);

const MISSIONS = 50;
const STEPS = 4;
let env: TestEnv;
let api: RunningApi;
const workers = new Map<string, ChildProcess>();

function startWorkerProcess(id: string): ChildProcess {
  const child = forkWorker(env.config, id, { WORKER_CONCURRENCY: '4', SANDBOX_POOL_SIZE: '2', WORKER_LOCK_MS: '4000', WORKER_STALLED_CHECK_MS: '1000' });
  workers.set(id, child);
  return child;
}

beforeAll(async () => {
  env = await createTestEnv();
  api = await startApi(env.config, testLogger());
});

afterAll(async () => {
  for (const child of workers.values()) await stopProcess(child);
  for (const id of workers.keys()) await removeSandboxes(id);
  await api?.close();
  await env?.cleanup();
});

test('a worker SIGKILLed mid-mission loses nothing: the other finishes every mission, each step recorded once', async () => {
  const redis = new IORedis(env.config.REDIS_URL);
  const [doomed, survivor] = [`${env.owner}-doomed`, `${env.owner}-survivor`];
  startWorkerProcess(doomed);
  startWorkerProcess(survivor);
  await waitFor(async () => (await redis.exists(`${env.config.QUEUE_PREFIX}:worker:${doomed}`, `${env.config.QUEUE_PREFIX}:worker:${survivor}`)) === 2, 60_000);
  redis.disconnect();

  const plan = Array.from({ length: STEPS }, (_, k) => ({ tool: 'shell', input: { command: `echo step-${k + 1}; sleep 0.2` } }));
  const missions = Array.from({ length: MISSIONS }, (_, i) => ({ goal: `mission ${i}`, plan }));
  const response = await fetch(`http://127.0.0.1:${api.port}/v1/missions/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.config.ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ missions }),
  });
  expect(response.status).toBe(202);

  // Kill the doomed worker the moment one of its missions is part way through (at least two steps left).
  let interrupted: { id: string } | undefined;
  await waitFor(async () => {
    interrupted = await env.db('missions').where({ worker_id: doomed, status: 'running' }).whereBetween('step_count', [1, STEPS - 2]).first('id');
    return interrupted !== undefined;
  }, 120_000);
  workers.get(doomed)!.kill('SIGKILL');
  await once(workers.get(doomed)!, 'exit');

  await waitFor(async () => Number((await env.db('missions').whereNotIn('status', ['queued', 'running']).count({ n: '*' }))[0]!.n) === MISSIONS, 180_000);
  const statuses = await env.db('missions').groupBy('status').select('status').count({ n: '*' });
  expect(statuses).toEqual([{ status: 'succeeded', n: String(MISSIONS) }]);
  const perMission = await env.db('steps').groupBy('mission_id').select('mission_id').count({ n: '*' }).min({ first: 'seq' }).max({ last: 'seq' });
  expect(perMission).toHaveLength(MISSIONS);
  for (const row of perMission) expect(row).toMatchObject({ n: String(STEPS), first: 1, last: STEPS });
  // The interrupted mission moved to the survivor and carried on after its last recorded step.
  expect(await env.db('missions').where({ id: interrupted!.id }).first('worker_id', 'status', 'workers')).toEqual({
    worker_id: survivor,
    status: 'succeeded',
    workers: [doomed, survivor],
  });
  const resumed = await env.db('steps').where({ mission_id: interrupted!.id }).where('thought', 'like', '%continued in a new sandbox%').select('seq');
  expect(resumed).toEqual([{ seq: expect.any(Number) }]);
  expect(resumed[0].seq).toBeGreaterThan(1);
  // Nothing of the killed worker is left once its heartbeat has expired: the survivor's reaper removed its sandboxes.
  await waitFor(async () => (await sandboxesOf(doomed)).length === 0, 45_000, 'the killed worker\'s sandboxes removed');
});

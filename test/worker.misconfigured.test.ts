import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import IORedis from 'ioredis';
import { startApi, type RunningApi } from '../apps/api';
import { EXIT_CONFIG } from '../lib/service';
import { docker, createTestEnv, removeSandboxes, testLogger, type TestEnv } from './harness';
import { forkWorker, stopProcess } from './processes';
import { waitFor } from './waitFor';
import { shell } from './platform';

// A worker that cannot start sandboxes must not eat the fleet's missions.
jest.setTimeout(180_000);

let env: TestEnv;
let api: RunningApi;
const children: ChildProcess[] = [];
const healthy = `healthy-${process.pid}`;
const broken = `broken-${process.pid}`;
const doomedImage = `mission-sandbox:doomed-${process.pid}`;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startApi(env.config, testLogger());
});
afterAll(async () => {
  for (const child of children) await stopProcess(child, 'SIGKILL');
  for (const id of [healthy, broken]) await removeSandboxes(id);
  await docker.getImage(doomedImage).remove().catch(() => undefined);
  await api?.close();
  await env?.cleanup();
});

test('a worker whose sandbox image is missing refuses to start, with the configuration exit code', async () => {
  const worker = forkWorker(env.config, broken, { SANDBOX_IMAGE: 'mission-sandbox:does-not-exist' });
  const [code] = await once(worker, 'exit');

  expect(code).toBe(EXIT_CONFIG);
});

test('a second worker on a host whose metrics port is taken says so and stops, with the configuration exit code, before it takes a mission', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '0.0.0.0', resolve));
  const { port } = taken.address() as AddressInfo;
  const log = join(mkdtempSync(join(tmpdir(), 'worker-log-')), 'worker.log');
  try {
    const worker = forkWorker(env.config, `${broken}-port`, { METRICS_PORT: String(port) }, log);
    const [code] = await once(worker, 'exit');

    expect(code).toBe(EXIT_CONFIG);
    expect(readFileSync(log, 'utf8')).toContain(`METRICS_PORT ${port} is taken (by another worker on this host?)`);
    const redis = new IORedis(env.config.REDIS_URL);
    expect(await redis.exists(`${env.config.QUEUE_PREFIX}:worker:${broken}-port`)).toBe(0);
    redis.disconnect();
  } finally {
    taken.close();
  }
});

test('a worker whose sandboxes stop starting steps aside: every mission succeeds on the healthy worker', async () => {
  await docker.getImage(env.config.SANDBOX_IMAGE).tag({ repo: 'mission-sandbox', tag: `doomed-${process.pid}` });
  const bad = forkWorker(env.config, broken, { SANDBOX_IMAGE: doomedImage, SANDBOX_POOL_SIZE: '1', WORKER_CONCURRENCY: '4' });
  children.push(bad);
  const redisKey = (id: string) => `${env.config.QUEUE_PREFIX}:worker:${id}`;
  const redis = new IORedis(env.config.REDIS_URL);
  await waitFor(async () => (await redis.exists(redisKey(broken))) === 1, 60_000, 'the broken worker up');
  // Its image goes after it started: from now on none of its sandboxes can start.
  await docker.getImage(doomedImage).remove();
  const good = forkWorker(env.config, healthy, { SANDBOX_POOL_SIZE: '2', WORKER_CONCURRENCY: '2' });
  children.push(good);
  await waitFor(async () => (await redis.exists(redisKey(healthy))) === 1, 60_000, 'the healthy worker up');
  redis.disconnect();

  const missions = Array.from({ length: 40 }, (_, i) => ({ goal: `sandboxed ${i}`, plan: [shell(`echo ${i}`)] }));
  const response = await fetch(`http://127.0.0.1:${api.port}/v1/missions/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.config.ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ missions }),
  });
  expect(response.status).toBe(202);
  await waitFor(async () => Number((await env.db('missions').whereIn('status', ['queued', 'running']).count({ n: '*' }))[0]!.n) === 0, 150_000, 'all ended');

  const outcomes = (await env.db('missions').groupBy('status', 'worker_id').select('status', 'worker_id').count({ n: '*' })) as { status: string; worker_id: string; n: string }[];
  expect(outcomes.filter((row) => row.status !== 'succeeded')).toEqual([]);
  // The broken worker ran at most what its one warm sandbox allowed; the healthy one ran the rest.
  const byWorker = Object.fromEntries(outcomes.map((row) => [row.worker_id, Number(row.n)]));
  expect(byWorker[broken] ?? 0).toBeLessThanOrEqual(1);
  expect(byWorker[healthy]).toBeGreaterThanOrEqual(39);
});

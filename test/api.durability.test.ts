import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import IORedis from 'ioredis';
import { createTestEnv, type TestEnv } from './harness';
import { shell, startPlatform, type TestPlatform } from './platform';

// This file stops Redis, so it runs one of its own on a free port: the suite's shared Redis stays up.
let port: number;
let redis: ChildProcess | undefined;
let env: TestEnv;
let platform: TestPlatform;

async function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const client = new IORedis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50 });
  await client.connect().catch(() => undefined);
  while ((await client.ping().catch(() => '')) !== 'PONG') await new Promise((resolve) => setTimeout(resolve, 50));
  client.disconnect();
}

async function stopRedis(): Promise<void> {
  const exited = once(redis!, 'exit');
  redis!.kill('SIGKILL');
  await exited;
  redis = undefined;
}

beforeAll(async () => {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
  server.close();
  await startRedis();
  env = await createTestEnv({ REDIS_URL: `redis://127.0.0.1:${port}`, SWEEP_EVERY_MS: '300' });
  platform = await startPlatform(env);
});

afterAll(async () => {
  if (!redis) await startRedis();
  await platform?.close();
  await env?.cleanup();
  await stopRedis();
});

test('missions submitted while Redis is down are accepted, kept, and run once Redis is back', async () => {
  await stopRedis();

  const single = await platform.request('POST', '/v1/missions', { goal: 'while redis is down', plan: [shell('echo survived')] });
  const batch = await platform.request('POST', '/v1/missions/batch', { missions: [{ goal: 'batched', plan: [shell('echo batched')] }] });

  expect(single.status).toBe(201);
  expect(batch.status).toBe(202);
  const { id } = (await single.json()) as { id: string };
  const batchId = ((await batch.json()) as { batch_id: string }).batch_id;
  const pending = await env.db('missions').whereNull('enqueued_at').select('id', 'status');
  expect(pending).toHaveLength(2);
  expect(pending.every((row: { status: string }) => row.status === 'queued')).toBe(true);
  expect((await platform.request('GET', '/readyz')).status).toBe(503);

  await startRedis();

  const mission = await platform.waitForMission(id, 60_000);
  expect(mission.status).toBe('succeeded');
  expect(mission.result).toEqual({ output: 'survived\n' });
  const [batched] = (await (await platform.request('GET', `/v1/missions?batch_id=${batchId}`)).json() as { data: { id: string }[] }).data;
  expect((await platform.waitForMission(batched!.id, 60_000)).status).toBe('succeeded');
  expect(await env.db('missions').whereNull('enqueued_at').count({ n: '*' })).toEqual([{ n: '0' }]);
  expect((await platform.request('GET', '/readyz')).status).toBe(200);
});

import { createTestEnv, type TestEnv } from './harness';
import { shell, startPlatform, type TestPlatform } from './platform';
import { PrivateRedis } from './services';

// This file stops Redis, so it runs one of its own: the suite's shared Redis stays up.
let redis: PrivateRedis;
let env: TestEnv;
let platform: TestPlatform;

beforeAll(async () => {
  redis = await PrivateRedis.start();
  env = await createTestEnv({ REDIS_URL: redis.url, SWEEP_EVERY_MS: '300' });
  platform = await startPlatform(env);
});

afterAll(async () => {
  if (!redis.running) await redis.start();
  await platform?.close();
  await env?.cleanup();
  await redis.kill();
});

test('missions submitted while Redis is down are accepted, kept, and run once Redis is back', async () => {
  await redis.kill();

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

  await redis.start();

  const mission = await platform.waitForMission(id, 60_000);
  expect(mission.status).toBe('succeeded');
  expect(mission.result).toEqual({ output: 'survived\n' });
  const [batched] = (await (await platform.request('GET', `/v1/missions?batch_id=${batchId}`)).json() as { data: { id: string }[] }).data;
  expect((await platform.waitForMission(batched!.id, 60_000)).status).toBe('succeeded');
  expect(await env.db('missions').whereNull('enqueued_at').count({ n: '*' })).toEqual([{ n: '0' }]);
  expect((await platform.request('GET', '/readyz')).status).toBe(200);
});

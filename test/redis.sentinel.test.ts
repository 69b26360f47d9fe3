import { capturedLogger, createTestEnv, type TestEnv } from './harness';
import { startPlatform, type TestPlatform } from './platform';
import { RedisSentinels } from '../fleet/redis';
import { waitFor } from './waitFor';

// The API and a worker on Redis under Sentinel (REDIS_SENTINELS): the primary is SIGKILLed, the sentinels
// promote the replica, and missions go on. BullMQ workers that silently stop after a failover are a recurring
// report in its tracker; this is the failover for real, on the pinned BullMQ.
let sentinels: RedisSentinels;
let env: TestEnv;
let platform: TestPlatform;
const { logger, lines } = capturedLogger();

beforeAll(async () => {
  sentinels = await RedisSentinels.start();
  env = await createTestEnv({ REDIS_SENTINELS: sentinels.sentinelList, REDIS_MASTER_NAME: sentinels.name, SWEEP_EVERY_MS: '1000' });
  platform = await startPlatform(env, { logger });
});
afterAll(async () => {
  await platform?.close();
  await env?.cleanup();
  await sentinels?.stop();
});

async function finishOnly(goal: string): Promise<string> {
  const response = await platform.request('POST', '/v1/missions', { goal, plan: [{ tool: 'finish', input: { result: goal } }] });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

test('after the primary is killed and the replica promoted, the same API and worker run new missions', async () => {
  expect((await platform.waitForMission(await finishOnly('before'))).status).toBe('succeeded');
  const replicaPort = sentinels.replica.port;

  await sentinels.primary.kill();
  await waitFor(async () => (await sentinels.primaryPort()) === replicaPort, 60_000, 'the sentinels promote the replica');

  // Accepted into Postgres whatever Redis does; enqueued at once or by the sweeper, then run by the worker.
  const after = await finishOnly('after');
  expect(await platform.waitForMission(after, 60_000)).toMatchObject({ status: 'succeeded', result: 'after' });
  const more = await Promise.all(['a', 'b', 'c'].map((goal) => finishOnly(goal)));
  for (const id of more) expect((await platform.waitForMission(id, 60_000)).status).toBe('succeeded');
  // The failover is told as a warning per component, not as an error per reconnect attempt.
  const logged = lines.map((line) => JSON.parse(line) as { level: number; msg: string });
  expect(logged.filter((line) => line.level >= 50)).toEqual([]);
  expect(logged.map((line) => line.msg)).toContain('worker error: redis unavailable, retrying');
});

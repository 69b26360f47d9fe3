import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { MissionStore } from '../store/missionStore';
import { MISSION_QUEUE, missionJobId } from '../lib/queue';
import { startWorker, type RunningWorker } from '../apps/worker';
import { createTestEnv, testLogger, type TestEnv } from './harness';
import { shell, startPlatform, type TestPlatform } from './platform';
import { PrivateRedis } from './services';
import { waitFor } from './waitFor';

// This file kills its Redis, so it runs one of its own: the suite's shared Redis stays up.
let redis: PrivateRedis;
let env: TestEnv;
let api: TestPlatform;
let worker: RunningWorker | undefined;

beforeAll(async () => {
  redis = await PrivateRedis.start();
  env = await createTestEnv({ REDIS_URL: redis.url, SWEEP_EVERY_MS: '300' });
  api = await startPlatform(env, { worker: false });
});

afterAll(async () => {
  if (!redis.running) await redis.start();
  await worker?.close();
  await api?.close();
  await env?.cleanup();
  await redis.kill();
});

/** Sweeps the API process has run, from its metrics. */
async function sweeps(): Promise<number> {
  const metrics = await (await api.request('GET', '/metrics')).text();
  return Number(/^mission_sweeps_total (\d+)$/m.exec(metrics)![1]);
}

async function submitBatch(count: number, label: string): Promise<string[]> {
  const missions = Array.from({ length: count }, (_, i) => ({ goal: `${label} ${i}`, plan: [shell(`echo ${label}`)] }));
  const response = await api.request('POST', '/v1/missions/batch', { missions });
  expect(response.status).toBe(202);
  return ((await response.json()) as { items: { id: string }[] }).items.map((item) => item.id);
}

const enqueuedCount = async (ids: string[]) => Number((await env.db('missions').whereIn('id', ids).whereNotNull('enqueued_at').count({ n: '*' }))[0]!.n);

test('missions whose jobs a Redis restart lost are given new jobs and run, each once', async () => {
  const ids = await submitBatch(5, 'lost');
  await waitFor(async () => (await enqueuedCount(ids)) === 5);

  // Redis dies and comes back without its data, as one that lost the last writes of its append-only file.
  await redis.kill();
  await redis.start();
  worker = await startWorker(env.config, testLogger(), env.owner);

  for (const id of ids) expect((await api.waitForMission(id, 30_000)).status).toBe('succeeded');
  const rows = await env.db('missions').whereIn('id', ids).select('job_seq');
  expect(rows.map((row: { job_seq: number }) => row.job_seq)).toEqual([1, 1, 1, 1, 1]);
  expect(await env.db('steps').whereIn('mission_id', ids).count({ n: '*' })).toEqual([{ n: '5' }]);
  const metrics = await (await api.request('GET', '/metrics')).text();
  expect(metrics).toMatch(/mission_sweeper_rescues_total\{reason="job_missing"\} 5/);
});

test('a mission whose job ended in the failed set (as older versions left them) is given a new job', async () => {
  await worker?.close();
  worker = undefined;
  const [id] = await submitBatch(1, 'failed');
  await waitFor(async () => (await enqueuedCount([id!])) === 1);
  // A worker of an older version, whose attempt failed while Postgres was away, and which gave up on the job.
  const connection = new IORedis(redis.url, { maxRetriesPerRequest: null });
  const older = new Worker(MISSION_QUEUE, null, { connection, prefix: env.config.QUEUE_PREFIX, settings: { backoffStrategy: () => -1 } });
  const job = (await older.getNextJob('older-version'))!;
  expect(job.id).toBe(id);
  await job.moveToFailed(new Error('the database system is not yet accepting connections'), 'older-version');
  await older.close();

  worker = await startWorker(env.config, testLogger(), env.owner);

  expect((await api.waitForMission(id!, 30_000)).status).toBe('succeeded');
  const queue = new Queue(MISSION_QUEUE, { connection, prefix: env.config.QUEUE_PREFIX });
  expect(await queue.getJobState(id!)).toBe('unknown'); // removed, so nobody retries it by hand beside its replacement
  await queue.close();
  connection.disconnect();
  expect(await (await api.request('GET', '/metrics')).text()).toMatch(/mission_sweeper_rescues_total\{reason="job_failed"\} 1/);
});

test('a mission whose running job Redis lost runs on under its new job: two runs for a while, each step recorded once', async () => {
  worker ??= await startWorker(env.config, testLogger(), env.owner);
  const plan = Array.from({ length: 4 }, (_, k) => shell(`echo ${k + 1}; sleep 0.5`));
  const created = await api.request('POST', '/v1/missions', { goal: 'lost while running', plan });
  const { id } = (await created.json()) as { id: string };
  await waitFor(async () => (await env.db('steps').where({ mission_id: id }).count({ n: '*' }))[0]!.n === '1');

  // Its job vanishes while the worker runs it: the sweeper gives it a new job, which runs beside the first run.
  await redis.kill();
  await redis.start();

  const mission = await api.waitForMission(id, 30_000);
  expect(mission.status).toBe('succeeded');
  expect(mission.steps.map((step) => step.observation?.stdout)).toEqual(['1\n', '2\n', '3\n', '4\n']);
  expect(await env.db('missions').where({ id }).first('job_seq')).toEqual({ job_seq: 1 });
});

test('of two sweepers that find the same lost job, only one gives the mission a new job', async () => {
  const store = new MissionStore(env.db);
  const [mission] = await store.create([{ tenant_id: '00000000-0000-0000-0000-000000000000', spec: { goal: 'race', policy: 'scripted', plan: [], max_steps: 1, deadline_s: 60, metadata: {} } }]);

  const [first, second] = await Promise.all([store.reassignJobs([mission!]), store.reassignJobs([mission!])]);

  expect([first.length, second.length].sort()).toEqual([0, 1]);
  expect(missionJobId(mission!.id, [...first, ...second][0]!.job_seq)).toBe(`${mission!.id}-1`);
  await env.db('missions').where({ id: mission!.id }).update({ status: 'cancelled' });
});

test('jobs that wait, run or wait to retry are left alone; a job that completed with its mission open is replaced', async () => {
  await worker?.close();
  worker = undefined;
  const ids = await submitBatch(4, 'states');
  await waitFor(async () => (await enqueuedCount(ids)) === 4);
  const connection = new IORedis(redis.url, { maxRetriesPerRequest: null });
  const older = new Worker(MISSION_QUEUE, null, { connection, prefix: env.config.QUEUE_PREFIX });
  const running = (await older.getNextJob('states'))!;
  const retrying = (await older.getNextJob('states'))!;
  await retrying.moveToDelayed(Date.now() + 60_000, 'states');
  const completed = (await older.getNextJob('states'))!;
  await completed.moveToCompleted('done', 'states', false);
  expect([running.id, retrying.id, completed.id]).toEqual(ids.slice(0, 3)); // the fourth still waits

  await waitFor(async () => (await env.db('missions').where({ id: completed.id }).first('job_seq')).job_seq === 1);
  // Three sweeps more, each of which saw the other jobs and left them alone.
  const rescued = await sweeps();
  await waitFor(async () => (await sweeps()) >= rescued + 3);
  const rows = (await env.db('missions').whereIn('id', ids).select('id', 'job_seq')) as { id: string; job_seq: number }[];
  expect(Object.fromEntries(rows.map((row) => [row.id, row.job_seq]))).toEqual({ [ids[0]!]: 0, [ids[1]!]: 0, [ids[2]!]: 1, [ids[3]!]: 0 });
  expect(await (await api.request('GET', '/metrics')).text()).toMatch(/mission_sweeper_rescues_total\{reason="job_completed"\} 1/);
  await older.close();
  connection.disconnect();
});

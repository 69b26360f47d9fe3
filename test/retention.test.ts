import IORedis from 'ioredis';
import { BatchStore } from '../store/batches/batchStore';
import { missionSpecSchema } from '../jobs/mission';
import { MissionStore } from '../store/missionStore';
import { RetentionPurger } from '../store/retention';
import { StepWriter } from '../store/stepWriter';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { createTestEnv, type TestEnv } from './harness';

// Nothing grows forever: what ended more than RETENTION_DAYS ago goes, with everything that belongs to it, in
// chunks; what is newer, unfinished, or in a batch that has not ended that long ago stays.
let env: TestEnv;
let redis: IORedis;
const DAYS = 30;
const spec = missionSpecSchema({ defaultDeadlineS: 60, maxDeadlineS: 60 }).parse({ goal: 'kept or not', plan: [{ tool: 'shell', input: { command: 'true' } }] });

beforeAll(async () => {
  env = await createTestEnv();
  redis = new IORedis(env.config.REDIS_URL);
});
afterAll(async () => {
  redis.disconnect();
  await env.cleanup();
});

/** Missions that ended (or are still `status`) `daysAgo` days ago, each with two steps, an event and a model call. */
async function missions(count: number, daysAgo: number, status = 'succeeded', batchId?: string): Promise<string[]> {
  const store = new MissionStore(env.db);
  const created = batchId
    ? (await env.db('missions').where({ batch_id: batchId }).select('id')) as { id: string }[]
    : await store.create(Array.from({ length: count }, () => ({ tenant_id: ADMIN_TENANT_ID, spec })));
  const ids = created.map((mission) => mission.id);
  const at = new Date(Date.now() - daysAgo * 86_400_000);
  const writer = new StepWriter(env.db);
  await Promise.all(ids.flatMap((id) => [1, 2].map((seq) => writer.append({ mission_id: id, seq, thought: null, tool: 'shell', input: {}, observation: {}, exit_code: 0, error: null, started_at: at, finished_at: at, usage: null }))));
  await env.db('llm_calls').insert(ids.map((id) => ({ mission_id: id, call_index: 0, request: '{}', response: '{}' })));
  const ended = status === 'succeeded' ? at : null;
  await env.db('missions').whereIn('id', ids).update({ status, created_at: at, started_at: at, finished_at: ended });
  return ids;
}

const left = async (table: string, ids: string[]) =>
  Number((await env.db(table).whereIn(table === 'missions' ? 'id' : 'mission_id', ids).count({ n: '*' }))[0]!.n);

test('ended missions, batches, keys and settled deliveries past their days go, in small chunks; the rest stays', async () => {
  const old = await missions(7, 40);
  const recent = await missions(2, 1);
  const oldButRunning = await missions(1, 40, 'running');
  const batches = new BatchStore(env.db, new MissionStore(env.db));
  const oldBatch = await batches.create(ADMIN_TENANT_ID, [spec, spec], 2);
  const oldBatchMissions = await missions(0, 40, 'succeeded', oldBatch.batchId);
  const lateBatch = await batches.create(ADMIN_TENANT_ID, [spec], 1);
  const lateBatchMissions = await missions(0, 40, 'succeeded', lateBatch.batchId);
  await env.db('batches').where({ id: oldBatch.batchId }).update({ created_at: new Date(Date.now() - 40 * 86_400_000), ended_at: new Date(Date.now() - 40 * 86_400_000) });
  // Its missions ended long ago, but the batch itself (a late retry) ended yesterday: all of it stays.
  await env.db('batches').where({ id: lateBatch.batchId }).update({ ended_at: new Date(Date.now() - 86_400_000) });
  await env.db('idempotency_keys').insert([
    { tenant_id: ADMIN_TENANT_ID, key: 'old', request_hash: 'x', created_at: new Date(Date.now() - 40 * 86_400_000) },
    { tenant_id: ADMIN_TENANT_ID, key: 'new', request_hash: 'x' },
  ]);

  const webhookId = '01a20000-0000-7000-8000-000000000001';
  await env.db('webhooks').insert({ id: webhookId, tenant_id: ADMIN_TENANT_ID, url: 'https://example.com/hooks', events: ['batch.ended'], secret: 'whsec_x' });
  const longAgo = new Date(Date.now() - 40 * 86_400_000);
  await env.db('webhook_deliveries').insert([
    { id: 'msg_delivered', webhook_id: webhookId, type: 'batch.ended', payload: '{}', status: 'delivered', created_at: longAgo },
    { id: 'msg_still_due', webhook_id: webhookId, type: 'batch.ended', payload: '{}', status: 'pending', created_at: longAgo },
  ]);

  // Files: one no submission named for 40 days goes; one as old that an unfinished mission names stays, as does a new one.
  const file = (sha256: string, daysAgo: number) => ({ tenant_id: ADMIN_TENANT_ID, sha256, bytes: 1, expanded_bytes: 1, entries: 1, archive: Buffer.from('x'), last_used_at: new Date(Date.now() - daysAgo * 86_400_000) });
  const [unused, named] = (await env.db('files').insert([file('unused', 40), file('named', 40), file('fresh', 1)]).returning('id')).map((row: { id: string }) => row.id);
  const withFiles = missionSpecSchema({ defaultDeadlineS: 60, maxDeadlineS: 60 }).parse({ goal: 'files', environment: { files: [{ file_id: named }] }, plan: [{ tool: 'shell', input: { command: 'true' } }] });
  await new MissionStore(env.db).create([{ tenant_id: ADMIN_TENANT_ID, spec: withFiles }]);

  const purger = new RetentionPurger(env.db, redis, env.config.QUEUE_PREFIX, 'test', { retentionDays: DAYS, chunk: 3 });
  const purged = await purger.purge();

  expect(purged).toEqual({ missions: 9, batches: 1, idempotency_keys: 1, webhook_deliveries: 1, files: 1 });
  expect(await env.db('files').whereIn('id', [unused, named]).pluck('id')).toEqual([named]);
  expect(await env.db('webhook_deliveries').pluck('id')).toEqual(['msg_still_due']);
  // Four missions stay, each with its two steps, their two events and its model call.
  for (const [table, kept] of [['missions', 4], ['steps', 8], ['mission_events', 8], ['llm_calls', 4]] as const) {
    expect([table, await left(table, [...old, ...oldBatchMissions])]).toEqual([table, 0]);
    expect([table, await left(table, [...recent, ...oldButRunning, ...lateBatchMissions])]).toEqual([table, kept]);
  }
  expect((await env.db('batches').whereIn('id', [oldBatch.batchId, lateBatch.batchId]).pluck('id'))).toEqual([lateBatch.batchId]);
  expect(await env.db('idempotency_keys').pluck('key')).toEqual(['new']);
  // One purge at a time across the fleet: another process finds the lease taken.
  await redis.del(`${env.config.QUEUE_PREFIX}:retention`);
  const [first, second] = await Promise.all([purger.purge(), new RetentionPurger(env.db, redis, env.config.QUEUE_PREFIX, 'other', { retentionDays: DAYS }).purge()]);
  expect([first, second]).toEqual([{ missions: 0, batches: 0, idempotency_keys: 0, webhook_deliveries: 0, files: 0 }, undefined]);
});

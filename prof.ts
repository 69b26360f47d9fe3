import { MissionSubmitter } from './jobs/submitter';
import { createLogger } from './lib/logger';
import { createMissionQueue } from './lib/queue';
import { createRedis } from './lib/redis';
import { startWorker } from './workers/main';
import { MissionStore } from './jobs/missionStore';
import { loadConfig } from './lib/config';
import { createDb } from './lib/db';
import { ADMIN_TENANT_ID } from './migrations/002_tenants_batches_events';
import { migrateToLatest } from './migrations';
const N = Number(process.env.N ?? 3000);
const config = loadConfig({ ...process.env, DATABASE_SCHEMA: 'prof', QUEUE_PREFIX: '{prof}', SANDBOX_POOL_SIZE: '0', WORKER_CONCURRENCY: '100', MAX_RUNNING_PER_TENANT: '1000000', LOG_LEVEL: 'silent' });
const finishOnly = { goal: 'no tools', policy: 'scripted' as const, plan: [{ tool: 'finish' as const, input: { result: 'done' } }], max_steps: 10, deadline_s: 3_600, metadata: {} };
(async () => {
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { poolMax: 10 });
  await db.raw('drop schema if exists prof cascade');
  await migrateToLatest(db, 'prof');
  const worker = await startWorker(config, createLogger('silent', 'p'), 'prof');
  const producer = createRedis(config.REDIS_URL, 'producer');
  const queue = createMissionQueue(producer, config.QUEUE_PREFIX);
  const submitter = new MissionSubmitter(new MissionStore(db), queue);
  for (const round of [1, 2]) {
    const started = performance.now();
    const { batchId } = await submitter.submitBatch(ADMIN_TENANT_ID, Array.from({ length: N }, () => finishOnly), N);
    for (;;) {
      const [{ n }] = await db('missions').where({ batch_id: batchId, status: 'succeeded' }).count({ n: '*' });
      if (Number(n) === N) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(`round ${round}: ${Math.round(N / ((performance.now() - started) / 60000))} missions/min`);
  }
  await submitter.drain(); await queue.close(); producer.disconnect(); await worker.close();
  await db.raw('drop schema if exists prof cascade'); await db.destroy();
  const redis = createRedis(config.REDIS_URL, 'worker');
  for await (const keys of redis.scanStream({ match: '{prof}:*', count: 1000 }) as AsyncIterable<string[]>) if (keys.length) await redis.del(...keys);
  redis.disconnect();
})();

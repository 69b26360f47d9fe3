import { Worker } from 'bullmq';
import Redis from 'ioredis';
import { redisErrorListener } from '../jobs/redisErrors';
import { loadConfig } from '../lib/config';
import { capturedLogger } from './harness';
import { PrivateRedis } from './services';
import { waitFor } from './waitFor';

// A worker whose Redis is gone raises an error for each reconnect attempt; an operator should read one warning,
// not a screenful of errors, while anything else Redis says stays an error each time.
type LogLine = { level: number; msg: string; folded?: number };
const parsed = (lines: string[]) => lines.map((line) => JSON.parse(line) as LogLine);

test('a worker that cannot reach Redis logs one warning for its many reconnect errors', async () => {
  const { logger, lines } = capturedLogger();
  // A Redis that is down while the worker starts, and comes back before the worker closes: BullMQ closing a
  // connection that never became ready lets its late connect error escape as an unhandled rejection.
  const redis = await PrivateRedis.start();
  await redis.kill();
  const worker = new Worker('unreachable', async () => undefined, { connection: { host: '127.0.0.1', port: redis.port, retryStrategy: () => 20 }, prefix: '{unreachable}' });
  let raised = 0;
  worker.on('error', () => (raised += 1));
  worker.on('error', redisErrorListener(logger, 'worker error'));
  try {
    await waitFor(() => raised >= 10, 30_000, 'ten connection errors');
    const errorLines = [...lines];
    await redis.start();
    await worker.waitUntilReady();
    expect(parsed(errorLines)).toEqual([expect.objectContaining({ level: 40, msg: 'worker error: redis unavailable, retrying', folded: 0 })]);
  } finally {
    await worker.close().catch(() => undefined);
    await redis.kill();
  }
});

test('an error Redis answers with is logged as an error, each time', async () => {
  const { logger, lines } = capturedLogger();
  const redis = new Redis(loadConfig().REDIS_URL);
  const key = `redis-errors-test-${process.pid}`;
  try {
    await redis.hset(key, 'field', 'value');
    const wrongType = await redis.get(key).then(() => undefined, (error: Error) => error);
    const listener = redisErrorListener(logger, 'worker error');
    listener(wrongType!);
    listener(wrongType!);
  } finally {
    await redis.del(key);
    redis.disconnect();
  }
  expect(parsed(lines).map(({ level, msg }) => ({ level, msg }))).toEqual([
    { level: 50, msg: 'worker error' },
    { level: 50, msg: 'worker error' },
  ]);
});

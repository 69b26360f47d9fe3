import type { AddressInfo } from 'node:net';
import { MissionStore } from '../jobs/missionStore';
import type { Config } from '../lib/config';
import { createDb } from '../lib/db';
import type { Logger } from '../lib/logger';
import { createMissionQueue } from '../lib/queue';
import { createRedis } from '../lib/redis';
import { runService } from '../lib/service';
import { shutdownSequence } from '../lib/shutdown';
import { createApp } from './app';

export interface RunningApi {
  port: number;
  close(): Promise<void>;
}

/** Starts the HTTP API on config.PORT (0 picks a free port). */
export async function startApi(config: Config, logger: Logger): Promise<RunningApi> {
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA);
  const redis = createRedis(config.REDIS_URL, 'producer');
  const queue = createMissionQueue(redis, config.QUEUE_PREFIX);
  const app = createApp({ store: new MissionStore(db), queue, logger, adminApiKey: config.ADMIN_API_KEY });
  const server = app.listen(config.PORT);
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'api listening');
  const close = shutdownSequence(
    [
      ['stop intake', () => new Promise((resolve) => server.close(resolve))],
      ['close queue', () => queue.close()],
      ['close redis', () => redis.quit()],
      ['close database', () => db.destroy()],
    ],
    config.SHUTDOWN_TIMEOUT_MS,
    logger,
  );
  return { port, close };
}

if (require.main === module) runService('api', startApi);

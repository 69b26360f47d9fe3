import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { MissionEngine } from '../jobs/engine';
import { MissionStore } from '../jobs/missionStore';
import { loadConfig, type Config } from '../lib/config';
import { createDb } from '../lib/db';
import { createLogger, type Logger } from '../lib/logger';
import { createRedis } from '../lib/redis';
import { shutdownSequence } from '../lib/shutdown';
import { SandboxDriver } from '../sandbox/driver';
import { createMissionWorker } from './missionWorker';

export interface RunningWorker {
  id: string;
  close(): Promise<void>;
}

/** Starts a worker process's mission worker: BullMQ in, ReAct engine, gVisor sandboxes, Postgres out. */
export async function startWorker(config: Config, logger: Logger, id = defaultWorkerId()): Promise<RunningWorker> {
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, Math.min(config.WORKER_CONCURRENCY + 2, 20));
  const redis = createRedis(config.REDIS_URL, 'worker');
  const driver = new SandboxDriver(new Docker(), { image: config.SANDBOX_IMAGE, runtime: config.SANDBOX_RUNTIME, owner: id });
  const engine = new MissionEngine(new MissionStore(db), driver);
  const worker = createMissionWorker(engine, logger.child({ worker_id: id }), {
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
  });
  await worker.waitUntilReady();
  logger.info({ worker_id: id, concurrency: config.WORKER_CONCURRENCY, runtime: config.SANDBOX_RUNTIME }, 'worker ready');
  const close = shutdownSequence(
    [
      // Waits for running missions; each destroys its own sandbox when it ends.
      ['drain worker', () => worker.close()],
      ['close redis', () => redis.quit()],
      ['close database', () => db.destroy()],
    ],
    config.SHUTDOWN_TIMEOUT_MS,
    logger,
  );
  return { id, close };
}

/** Unique per process and host: it labels this worker's sandboxes, so the reaper knows whose they are. */
function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

if (require.main === module) {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, 'worker');
  startWorker(config, logger).then(
    (worker) => ['SIGTERM', 'SIGINT'].forEach((signal) => process.once(signal, () => void worker.close())),
    (error: unknown) => {
      logger.fatal({ err: error }, 'worker failed to start');
      process.exit(1);
    },
  );
}

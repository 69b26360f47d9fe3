import type { Knex } from 'knex';
import type { Config } from '../lib/config';
import type { Logger } from '../lib/logger';
import type { Metrics } from '../lib/metrics';
import type { Redis } from '../lib/redis';
import { RetentionPurger } from './retention';

/** Starts this process's retention purger, as configured: what each purge removed is counted and logged. */
export function runRetention(db: Knex, redis: Redis, config: Config, metrics: Metrics, logger: Logger, owner: string): RetentionPurger {
  const purger = new RetentionPurger(db, redis, config.QUEUE_PREFIX, owner, { retentionDays: config.RETENTION_DAYS, budgetMs: config.RETENTION_BUDGET_MS });
  purger.on('purged', (purged, ms) => {
    for (const [kind, rows] of Object.entries(purged)) metrics.retentionPurged.inc({ kind }, rows);
    if (Object.values(purged).some((rows) => rows > 0)) logger.info({ ...purged, ms, retention_days: config.RETENTION_DAYS }, 'retention: deleted what is past its days');
  });
  purger.on('failed', (error) => logger.debug({ err: error }, 'a retention purge could not run; the next one tries again'));
  purger.start();
  return purger;
}

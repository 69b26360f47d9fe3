import IORedis from 'ioredis';
import type { Knex } from 'knex';
import { migrateToLatest } from '../migrations';

/** A benchmark's own schema, empty and migrated. */
export async function freshSchema(db: Knex, schema: string): Promise<void> {
  await db.raw('drop schema if exists ?? cascade', [schema]);
  await migrateToLatest(db, schema);
}

/** Drops the benchmark's schema and closes its pool. */
export async function dropSchema(db: Knex, schema: string): Promise<void> {
  await db.raw('drop schema if exists ?? cascade', [schema]);
  await db.destroy();
}

/** Deletes the benchmark's Redis keys: everything under its queue prefix. */
export async function dropQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new IORedis(redisUrl);
  for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
}

/** Runs a benchmark's main; a failure is printed and exits 1 (`npm run perf -- all` stops on it). */
export function runBenchmark(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

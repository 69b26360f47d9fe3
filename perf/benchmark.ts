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

/** Runs a benchmark's main; a failure is printed and exits 1 (`npm run perf -- all` stops on it). */
export function runBenchmark(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}

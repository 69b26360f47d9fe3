// Applies the migrations to the configured database and schema (run by scripts/bootstrap.sh).
import { loadConfig } from '../lib/config';
import { createDb } from '../lib/db';
import { migrateToLatest } from '../migrations';

async function main(): Promise<void> {
  const config = loadConfig();
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { poolMax: 1, pooled: config.DATABASE_POOLED });
  try {
    await migrateToLatest(db, config.DATABASE_SCHEMA);
  } finally {
    await db.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(`migrate: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

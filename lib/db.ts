import knexFactory, { type Knex } from 'knex';
import { ConfigError, type Config } from './config';
import { pendingMigrations } from '../migrations';
import type { Logger } from './logger';

export interface DbOptions {
  /** Connections in the pool. Default 10. */
  poolMax?: number;
  /** Where knex's own warnings go (a connection that failed, say); nowhere when not given. */
  logger?: Logger;
  /**
   * The URL is a transaction-mode pooler's (DATABASE_POOLED): set nothing on a connection, since the next
   * transaction on it may be another client's; the role's own search_path must be `schema` (checkSchema).
   */
  pooled?: boolean;
}

/**
 * A knex pool whose every connection uses `schema`, so tests and tenants of a database can be isolated:
 * through `SET search_path` on each connection, or behind a pooler, through the role's own search_path.
 * knex's pg client names no prepared statement, which a transaction-mode pooler could not carry either.
 */
export function createDb(databaseUrl: string, schema: string, options: DbOptions = {}): Knex {
  const { logger } = options;
  const log = (level: 'debug' | 'warn' | 'error') => (message: unknown) => logger?.[level]({ knex: message }, 'knex');
  return knexFactory({
    client: 'pg',
    connection: databaseUrl,
    ...(!options.pooled && { searchPath: [schema] }),
    pool: { min: 0, max: options.poolMax ?? 10 },
    log: { debug: log('debug'), warn: log('warn'), error: log('error'), deprecate: log('warn') },
  });
}

/**
 * The configured database, as the API and the workers use it: behind a pooler (DATABASE_POOLED), only once the
 * role's own search_path is checked to be DATABASE_SCHEMA; and only once DATABASE_SCHEMA has every migration,
 * so a process never serves 500s over tables it lacks. A database that cannot be asked does not stop the start:
 * an outage is waited out, as everywhere.
 */
export async function openDb(config: Config, options: Omit<DbOptions, 'pooled'> = {}): Promise<Knex> {
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { ...options, pooled: config.DATABASE_POOLED });
  try {
    if (config.DATABASE_POOLED) await checkSchema(db, config.DATABASE_SCHEMA);
    await checkMigrated(db, config.DATABASE_SCHEMA);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
}

async function checkMigrated(db: Knex, schema: string): Promise<void> {
  // Only an answer that names missing migrations stops the start; a database that cannot answer now is waited
  // out by the process like any outage.
  const pending = await pendingMigrations(db, schema).catch(() => []);
  if (pending.length === 0) return;
  throw new ConfigError(
    `DATABASE_SCHEMA ${schema} lacks ${pending.length} migration(s), from ${pending[0]}: run \`npm run bootstrap\` ` +
      `(or \`node dist/scripts/migrate.js\` with the same settings) before starting`,
  );
}

/** Behind a pooler: refuses to start unless the role's search_path puts `schema` first. */
async function checkSchema(db: Knex, schema: string): Promise<void> {
  const { rows } = (await db.raw('select current_user as role, current_schema() as schema')) as { rows: { role: string; schema: string | null }[] };
  const { role, schema: current } = rows[0]!;
  if (current !== schema) {
    throw new ConfigError(
      `DATABASE_SCHEMA is ${schema}, but role ${role} works in ${current ?? 'no schema'} behind the pooler: run ` +
        `\`alter role ${role} set search_path = ${schema}\` (DATABASE_POOLED sets nothing on pooled connections)`,
    );
  }
}

import knexFactory, { type Knex } from 'knex';
import type { Logger } from './logger';

export interface DbOptions {
  /** Connections in the pool. Default 10. */
  poolMax?: number;
  /** Where knex's own warnings go (a connection that failed, say); nowhere when not given. */
  logger?: Logger;
}

/** A knex pool whose every connection uses `schema`, so tests and tenants of a database can be isolated. */
export function createDb(databaseUrl: string, schema: string, options: DbOptions = {}): Knex {
  const { logger } = options;
  const log = (level: 'debug' | 'warn' | 'error') => (message: unknown) => logger?.[level]({ knex: message }, 'knex');
  return knexFactory({
    client: 'pg',
    connection: databaseUrl,
    searchPath: [schema],
    pool: { min: 0, max: options.poolMax ?? 10 },
    log: { debug: log('debug'), warn: log('warn'), error: log('error'), deprecate: log('warn') },
  });
}

import knexFactory, { type Knex } from 'knex';

/** A knex pool whose every connection uses `schema`, so tests and tenants of a database can be isolated. */
export function createDb(databaseUrl: string, schema: string, poolMax = 10): Knex {
  return knexFactory({
    client: 'pg',
    connection: databaseUrl,
    searchPath: [schema],
    pool: { min: 0, max: poolMax },
  });
}

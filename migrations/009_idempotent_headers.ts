import type { Knex } from 'knex';

/** The headers of a stored idempotent response (Location), so a replay answers exactly as the first request. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('idempotency_keys', (t) => t.jsonb('response_headers'));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('idempotency_keys', (t) => t.dropColumn('response_headers'));
}

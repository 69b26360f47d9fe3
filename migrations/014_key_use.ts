import type { Knex } from 'knex';

/** When each API key was last used (kept to the minute), for the keys API's listing. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => {
    t.timestamp('last_used_at', { useTz: true });
    t.index(['tenant_id', 'created_at'], 'api_keys_tenant_created');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => {
    t.dropIndex(['tenant_id', 'created_at'], 'api_keys_tenant_created');
    t.dropColumn('last_used_at');
  });
}

import type { Knex } from 'knex';

/** Whether a tenant may send its missions' model calls to a URL of its own (`llm.base_url`). Off unless the operator allows it. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenants', (t) => t.boolean('allow_llm_base_url').notNullable().defaultTo(false));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('tenants', (t) => t.dropColumn('allow_llm_base_url'));
}

import type { Knex } from 'knex';

/** Why a queued mission is not running yet, when a worker could say (no worker has its environment's image). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => t.text('waiting_for'));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => t.dropColumn('waiting_for'));
}

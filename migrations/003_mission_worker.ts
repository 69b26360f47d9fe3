import type { Knex } from 'knex';

/** Which worker runs (or last ran) a mission: for operators, and to see a mission move after a worker dies. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => t.text('worker_id'));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => t.dropColumn('worker_id'));
}

import type { Knex } from 'knex';

/** The bytes each mission's steps and their events hold (store/stepWriter.ts), for the cap and the tenant's figure. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => {
    t.bigInteger('stored_bytes').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => {
    t.dropColumn('stored_bytes');
  });
}

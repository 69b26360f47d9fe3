import type { Knex } from 'knex';

/** A mission's score from its scorer (scoring/), once the agent ended: `{value, passed, explanation, scorer, duration_ms, error?}`. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => t.jsonb('score'));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => t.dropColumn('score'));
}

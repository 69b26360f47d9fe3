import type { Knex } from 'knex';

/** Recorded model calls of `openai` missions that asked for it, so the `replay` policy can answer from them. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('llm_calls', (t) => {
    t.uuid('mission_id').notNullable().references('missions.id').onDelete('CASCADE');
    t.integer('call_index').notNullable();
    t.jsonb('request').notNullable();
    t.jsonb('response').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['mission_id', 'call_index']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('llm_calls');
}

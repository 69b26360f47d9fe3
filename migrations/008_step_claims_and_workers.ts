import type { Knex } from 'knex';

/**
 * - `step_claimed`: the step a worker is about to start. A worker claims each sandboxed step in Postgres before
 *   it runs it, and only while the mission is running, so a cancel that commits first means the step never
 *   starts; and a step claimed but not yet recorded (step_claimed > step_count) is one in flight.
 * - `workers`: every worker the mission ran on, in order (a takeover adds one).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => {
    t.integer('step_claimed').notNullable().defaultTo(0);
    t.specificType('workers', 'text[]').notNullable().defaultTo('{}');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => t.dropColumns('step_claimed', 'workers'));
}

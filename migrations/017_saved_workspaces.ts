import type { Knex } from 'knex';

/**
 * The last saved /workspace of each unfinished mission (store/savedWorkspaces.ts): one row per mission, replaced
 * on each save, deleted when the mission ends, and with the mission by retention.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('saved_workspaces', (t) => {
    t.uuid('mission_id').primary().references('missions.id').onDelete('CASCADE');
    /** The archive holds the files as they were after this many steps. */
    t.integer('after_seq').notNullable();
    t.binary('archive').notNullable();
    t.integer('bytes').notNullable();
    t.timestamp('saved_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('saved_workspaces');
}

import type { Knex } from 'knex';

/**
 * Files of tasks (tasks/fileStore.ts): archives a tenant uploaded, stored once per content and tenant, unpacked
 * into the workspaces of the missions that name them; and artifacts, the files a mission left that its spec asked
 * for, kept with the mission (and purged with it).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('files', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    /** Of the bytes uploaded: the same archive twice is one row. */
    t.text('sha256').notNullable();
    t.bigInteger('bytes').notNullable();
    t.bigInteger('expanded_bytes').notNullable();
    t.integer('entries').notNullable();
    /** The archive as the platform rewrote it (tasks/archives.ts): a checked tar.gz. */
    t.binary('archive').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    /** Set by each submission naming it: retention purges files no mission has named for its period. */
    t.timestamp('last_used_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['tenant_id', 'sha256']);
    t.index(['last_used_at']);
  });
  await knex.schema.createTable('artifacts', (t) => {
    t.uuid('mission_id').notNullable().references('missions.id').onDelete('CASCADE');
    t.text('path').notNullable();
    t.bigInteger('bytes').notNullable();
    t.text('sha256').notNullable();
    t.binary('content').notNullable();
    t.primary(['mission_id', 'path']);
  });
  /** Steps of a task's environment.setup, run before the agent's own: shown, but never to the model as its steps. */
  await knex.schema.alterTable('steps', (t) => t.boolean('setup').notNullable().defaultTo(false));
  /** What collecting a mission's artifacts kept and left out: `{kept, bytes, left_out: [{path, bytes, reason}]}`. */
  await knex.schema.alterTable('missions', (t) => t.jsonb('artifacts'));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => t.dropColumn('artifacts'));
  await knex.schema.alterTable('steps', (t) => t.dropColumn('setup'));
  await knex.schema.dropTable('artifacts');
  await knex.schema.dropTable('files');
}

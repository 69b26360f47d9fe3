import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('missions', (t) => {
    t.uuid('id').primary();
    t.text('status').notNullable().defaultTo('queued');
    t.text('goal').notNullable();
    t.jsonb('spec').notNullable();
    t.jsonb('result');
    t.jsonb('error');
    t.integer('step_count').notNullable().defaultTo(0);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('started_at', { useTz: true });
    t.timestamp('finished_at', { useTz: true });
    t.check(
      `status in ('queued', 'running', 'waiting_approval', 'succeeded', 'failed', 'cancelled', 'timed_out')`,
      [],
      'missions_status_known',
    );
    // Lists filter by status and page newest first; the reconciler scans queued missions oldest first.
    t.index(['status', 'created_at', 'id'], 'missions_status_created');
    t.index(['created_at', 'id'], 'missions_created');
  });

  await knex.schema.createTable('steps', (t) => {
    t.uuid('mission_id').notNullable().references('missions.id').onDelete('CASCADE');
    t.integer('seq').notNullable();
    t.text('thought');
    t.text('tool').notNullable();
    t.jsonb('input').notNullable();
    t.jsonb('observation');
    t.integer('exit_code');
    t.text('error');
    t.timestamp('started_at', { useTz: true }).notNullable();
    t.timestamp('finished_at', { useTz: true }).notNullable();
    // One row per step of a mission: a retried step can never be recorded twice, and traces read in order.
    t.primary(['mission_id', 'seq']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('steps');
  await knex.schema.dropTable('missions');
}

import type { Knex } from 'knex';

/** Steps that wait for a human: what the mission wants to run, and the decision. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('approvals', (t) => {
    t.uuid('mission_id').notNullable().references('missions.id').onDelete('CASCADE');
    t.integer('seq').notNullable();
    t.text('thought');
    t.text('tool').notNullable();
    t.jsonb('input').notNullable();
    t.text('status').notNullable().defaultTo('pending');
    t.text('reason');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('decided_at', { useTz: true });
    t.primary(['mission_id', 'seq']);
    t.check(`status in ('pending', 'approved', 'rejected')`, [], 'approvals_status_known');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('approvals');
}

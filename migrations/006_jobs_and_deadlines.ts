import type { Knex } from 'knex';

/**
 * - `job_seq`: which BullMQ job owns the mission. Its job id is the mission id while this is 0, and
 *   `<mission id>-<job_seq>` after the sweeper has given it a new job (its old one was lost or failed) or an
 *   approval has queued it again. Only the job it names may run the mission.
 * - `deadline_at`: set at the mission's first start from `deadline_s`, pushed back by the time spent waiting for
 *   approvals.
 * - An index over the open missions, which the sweeper reads page by page.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => {
    t.integer('job_seq').notNullable().defaultTo(0);
    t.timestamp('deadline_at', { useTz: true });
  });
  await knex.raw(`create index missions_open on missions (id) where status in ('queued', 'running')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index missions_open');
  await knex.schema.alterTable('missions', (t) => t.dropColumns('job_seq', 'deadline_at'));
}

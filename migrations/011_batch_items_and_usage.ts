import type { Knex } from 'knex';

/**
 * Batches people run evaluations on:
 * - a batch's missions are its items, in submission order (`item`), each with the caller's `custom_id` (unique in
 *   its batch); a retry is a new mission for the same item (`attempt` n+1, `retry_of` the one before, which gets
 *   `superseded_by`), so an item's latest attempt is the one nothing superseded;
 * - a batch ends (`ended_at`) when none of its latest attempts is open, and is cancelling from a cancel until then
 *   (no mission of it starts or claims a step from then on);
 * - model usage: each step that called a model carries its `usage`, and its mission running totals (cost from
 *   the operator's prices; tokens of unpriced models counted apart, so a cost is never a false 0); a batch with
 *   a `token_limit` counts the tokens its missions spend against it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => {
    t.integer('item');
    t.text('custom_id');
    t.integer('attempt').notNullable().defaultTo(1);
    t.uuid('retry_of');
    t.uuid('superseded_by');
    t.bigInteger('input_tokens').notNullable().defaultTo(0);
    t.bigInteger('output_tokens').notNullable().defaultTo(0);
    t.decimal('cost_usd', 20, 10).notNullable().defaultTo(0);
    t.bigInteger('unpriced_tokens').notNullable().defaultTo(0);
  });
  // Results in submission order; an item's attempts together. custom_id is unique in its batch per attempt.
  await knex.raw('create unique index missions_batch_items on missions (batch_id, item, attempt) where batch_id is not null');
  await knex.raw('create unique index missions_batch_custom_ids on missions (batch_id, custom_id, attempt) where custom_id is not null');
  // A batch ends when none of its missions is open: found without reading the rest.
  await knex.raw(`create index missions_batch_open on missions (batch_id) where status in ('queued', 'running', 'waiting_approval')`);
  // A batch's cancelled missions, among which those still stopping (a step in flight until its worker records
  // it) are found. The predicate names status only: one on step_count would make every step's update of a
  // mission touch every index (no "HOT" update), which halves the rate steps are written at.
  await knex.raw(`create index missions_batch_cancelled on missions (batch_id) where status = 'cancelled'`);

  // A step's model call, and that of a step waiting for approval (recorded with the step once decided).
  for (const table of ['steps', 'approvals']) await knex.schema.alterTable(table, (t) => t.jsonb('usage'));

  await knex.schema.alterTable('batches', (t) => {
    t.timestamp('ended_at', { useTz: true });
    t.timestamp('cancel_requested_at', { useTz: true });
    // What its cancelled missions are told (a user's cancel, or its token limit).
    t.jsonb('cancel_error');
    t.bigInteger('token_limit');
    t.bigInteger('tokens_used').notNullable().defaultTo(0);
  });
  await knex.raw('create index batches_in_progress on batches (id) where ended_at is null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index batches_in_progress');
  await knex.schema.alterTable('batches', (t) => {
    t.dropColumns('ended_at', 'cancel_requested_at', 'cancel_error', 'token_limit', 'tokens_used');
  });
  for (const table of ['steps', 'approvals']) await knex.schema.alterTable(table, (t) => t.dropColumn('usage'));
  await knex.raw('drop index missions_batch_cancelled');
  await knex.raw('drop index missions_batch_open');
  await knex.raw('drop index missions_batch_custom_ids');
  await knex.raw('drop index missions_batch_items');
  await knex.schema.alterTable('missions', (t) => {
    t.dropColumns('item', 'custom_id', 'attempt', 'retry_of', 'superseded_by', 'input_tokens', 'output_tokens', 'cost_usd', 'unpriced_tokens');
  });
}

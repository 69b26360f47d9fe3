import type { Knex } from 'knex';

/**
 * Epochs: a batch may run each item k times (`batches.epochs`), as k missions of one item with `epoch` 1..k and the
 * same custom_id. An item's attempts are now per epoch: the batch's unique indexes take the epoch in.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('missions', (t) => t.smallint('epoch').notNullable().defaultTo(1));
  await knex.schema.alterTable('batches', (t) => t.smallint('epochs').notNullable().defaultTo(1));
  await knex.raw('drop index missions_batch_items');
  await knex.raw('drop index missions_batch_custom_ids');
  await knex.raw('create unique index missions_batch_items on missions (batch_id, item, epoch, attempt) where batch_id is not null');
  await knex.raw('create unique index missions_batch_custom_ids on missions (batch_id, custom_id, epoch, attempt) where custom_id is not null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index missions_batch_items');
  await knex.raw('drop index missions_batch_custom_ids');
  await knex.raw('create unique index missions_batch_items on missions (batch_id, item, attempt) where batch_id is not null');
  await knex.raw('create unique index missions_batch_custom_ids on missions (batch_id, custom_id, attempt) where custom_id is not null');
  await knex.schema.alterTable('batches', (t) => t.dropColumn('epochs'));
  await knex.schema.alterTable('missions', (t) => t.dropColumn('epoch'));
}

import type { Knex } from 'knex';

/**
 * What retention (store/retention.ts) needs to find old rows without reading whole tables: idempotency keys and
 * settled webhook deliveries by age. Missions are found through `missions_created`; their steps, events, model
 * calls and approvals go with them (ON DELETE CASCADE, each by an index that starts with mission_id).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index idempotency_keys_created on idempotency_keys (created_at)');
  await knex.raw(`create index webhook_deliveries_settled on webhook_deliveries (created_at) where status <> 'pending'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index webhook_deliveries_settled');
  await knex.raw('drop index idempotency_keys_created');
}

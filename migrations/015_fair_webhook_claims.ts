import type { Knex } from 'knex';

/** Due deliveries found per endpoint, so a claim can go round the tenants (webhooks/webhookStore.ts). */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create index webhook_deliveries_due_by_webhook on webhook_deliveries (webhook_id, next_attempt_at) where status = 'pending'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index webhook_deliveries_due_by_webhook');
}

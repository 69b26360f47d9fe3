import type { Knex } from 'knex';

/** The tenant that the admin key from ADMIN_API_KEY acts as on /v1. */
export const ADMIN_TENANT_ID = '00000000-0000-0000-0000-000000000000';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('tenants', (t) => {
    t.uuid('id').primary();
    t.text('name').notNullable().unique();
    t.integer('rate_limit_per_minute');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex('tenants').insert({ id: ADMIN_TENANT_ID, name: 'admin' });

  await knex.schema.createTable('api_keys', (t) => {
    t.uuid('id').primary();
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    // SHA-256 of the key: the key itself is shown once, at creation, and never stored.
    t.binary('key_hash').notNullable().unique();
    t.text('key_prefix').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('revoked_at', { useTz: true });
  });

  await knex.schema.createTable('batches', (t) => {
    t.uuid('id').primary();
    t.uuid('tenant_id').notNullable().references('tenants.id');
    t.integer('submitted').notNullable();
    t.integer('accepted').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.alterTable('missions', (t) => {
    t.uuid('tenant_id').notNullable().defaultTo(ADMIN_TENANT_ID).references('tenants.id');
    t.uuid('batch_id').references('batches.id');
    // Set once the mission is in BullMQ; the reconciler enqueues queued missions where it is still null.
    t.timestamp('enqueued_at', { useTz: true });
  });
  await knex.schema.alterTable('missions', (t) => {
    t.dropIndex([], 'missions_status_created');
    t.dropIndex([], 'missions_created');
    // Keyset pages per tenant (newest first), filtered by status or batch.
    t.index(['tenant_id', 'id'], 'missions_tenant_page');
    t.index(['tenant_id', 'status', 'id'], 'missions_tenant_status_page');
    t.index(['batch_id', 'id'], 'missions_batch_page');
  });
  await knex.raw('create index missions_not_enqueued on missions (created_at) where enqueued_at is null');

  await knex.schema.createTable('idempotency_keys', (t) => {
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.text('key').notNullable();
    t.text('request_hash').notNullable();
    t.integer('response_status');
    t.jsonb('response_body');
    // While the first request is in flight; one that died leaves it to expire, and the key can be used again.
    t.timestamp('locked_until', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['tenant_id', 'key']);
  });

  // What SSE streams: a mission's status changes and steps, in commit order, resumable by id.
  await knex.schema.createTable('mission_events', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('mission_id').notNullable().references('missions.id').onDelete('CASCADE');
    t.text('type').notNullable();
    t.jsonb('data').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['mission_id', 'id'], 'mission_events_page');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('mission_events');
  await knex.schema.dropTable('idempotency_keys');
  await knex.raw('drop index missions_not_enqueued');
  await knex.schema.alterTable('missions', (t) => {
    t.dropIndex([], 'missions_tenant_page');
    t.dropIndex([], 'missions_tenant_status_page');
    t.dropIndex([], 'missions_batch_page');
    t.dropColumns('tenant_id', 'batch_id', 'enqueued_at');
    t.index(['status', 'created_at', 'id'], 'missions_status_created');
    t.index(['created_at', 'id'], 'missions_created');
  });
  await knex.schema.dropTable('batches');
  await knex.schema.dropTable('api_keys');
  await knex.schema.dropTable('tenants');
}

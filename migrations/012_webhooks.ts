import type { Knex } from 'knex';

/**
 * Webhooks (Standard Webhooks): a tenant's endpoints, and an outbox of deliveries with each attempt.
 *
 * A delivery is written by a trigger in the same statement as the change it reports (a mission's status becoming
 * terminal, a batch's `ended_at` being set), whichever code path makes it: it commits with the change or not at
 * all, and is then delivered at least once by whichever process claims it (webhooks/deliverer.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhooks', (t) => {
    t.uuid('id').primary();
    t.uuid('tenant_id').notNullable().references('tenants.id').onDelete('CASCADE');
    t.text('url').notNullable();
    t.specificType('events', 'text[]').notNullable();
    // The signing secret (whsec_...), shown to the tenant once; needed in full to sign each delivery.
    t.text('secret').notNullable();
    t.text('description');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Set when the endpoint answered 410 Gone, or its tenant removed it: nothing more is sent to it.
    t.timestamp('disabled_at', { useTz: true });
    t.text('disabled_reason');
    t.index(['tenant_id'], 'webhooks_tenant');
  });

  await knex.schema.createTable('webhook_deliveries', (t) => {
    // Also the `webhook-id` of every attempt, so a receiver can tell a retry from a new event.
    t.text('id').primary();
    t.uuid('webhook_id').notNullable().references('webhooks.id').onDelete('CASCADE');
    t.text('type').notNullable();
    t.jsonb('payload').notNullable();
    t.text('status').notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('delivered_at', { useTz: true });
    t.check(`status in ('pending', 'delivered', 'failed')`, [], 'webhook_deliveries_status_known');
    t.index(['webhook_id', 'created_at'], 'webhook_deliveries_page');
  });
  await knex.raw(`create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending'`);

  await knex.schema.createTable('webhook_attempts', (t) => {
    t.text('delivery_id').notNullable().references('webhook_deliveries.id').onDelete('CASCADE');
    t.integer('attempt').notNullable();
    t.timestamp('at', { useTz: true }).notNullable();
    t.integer('duration_ms').notNullable();
    // The endpoint's answer (null: none came), the start of its body, or why there was no answer.
    t.integer('response_status');
    t.text('response_body');
    t.text('error');
    t.primary(['delivery_id', 'attempt']);
  });

  // Times as the API shows them: ISO 8601 in UTC, to the millisecond.
  await knex.raw(`
    create function iso_utc(at timestamptz) returns text language sql stable as $$
      select to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    $$`);
  // A delivery to each live endpoint of the tenant that asked for the event: what the tenant may see of it
  // (ids, status, error, usage, times; never a secret), under the event's type and time. In plpgsql, so its
  // statements are planned once per session, not once per mission that ends.
  await knex.raw(`
    create function webhook_outbox(p_tenant uuid, p_type text, p_data jsonb) returns void language plpgsql as $$
    begin
      insert into webhook_deliveries (id, webhook_id, type, payload)
      select 'msg_' || replace(gen_random_uuid()::text, '-', ''), w.id, p_type,
        jsonb_build_object('type', p_type, 'timestamp', iso_utc(now()), 'data', p_data)
      from webhooks w where w.tenant_id = p_tenant and w.disabled_at is null and p_type = any(w.events);
    end $$`);
  await knex.raw(`
    create function mission_ended_webhooks() returns trigger language plpgsql as $$
    begin
      -- Most tenants have no webhook: one index probe, and no payload built.
      if not exists (select 1 from webhooks where tenant_id = new.tenant_id and disabled_at is null) then return null; end if;
      perform webhook_outbox(new.tenant_id, 'mission.ended', jsonb_build_object(
        'mission_id', new.id, 'batch_id', new.batch_id, 'custom_id', new.custom_id, 'attempt', new.attempt,
        'status', new.status, 'error', new.error,
        'usage', jsonb_build_object('input_tokens', new.input_tokens, 'output_tokens', new.output_tokens,
          'cost_usd', case when new.unpriced_tokens > 0 then null else new.cost_usd::float8 end),
        'started_at', iso_utc(new.started_at), 'finished_at', iso_utc(new.finished_at)));
      return null;
    end $$`);
  await knex.raw(`
    create trigger missions_ended_webhooks after update of status on missions for each row
    when (old.status in ('queued', 'running', 'waiting_approval') and new.status in ('succeeded', 'failed', 'cancelled', 'timed_out'))
    execute function mission_ended_webhooks()`);
  await knex.raw(`
    create function batch_ended_webhooks() returns trigger language plpgsql as $$
    begin
      if not exists (select 1 from webhooks where tenant_id = new.tenant_id and disabled_at is null) then return null; end if;
      perform webhook_outbox(new.tenant_id, 'batch.ended', jsonb_build_object(
        'batch_id', new.id, 'cancelled', new.cancel_requested_at is not null, 'ended_at', iso_utc(new.ended_at),
        'counts', (select coalesce(jsonb_object_agg(status, n), '{}') from (
          select status, count(*) as n from missions where batch_id = new.id and superseded_by is null group by status) c)));
      return null;
    end $$`);
  await knex.raw(`
    create trigger batches_ended_webhooks after update of ended_at on batches for each row
    when (old.ended_at is null and new.ended_at is not null)
    execute function batch_ended_webhooks()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger batches_ended_webhooks on batches');
  await knex.raw('drop function batch_ended_webhooks');
  await knex.raw('drop trigger missions_ended_webhooks on missions');
  await knex.raw('drop function mission_ended_webhooks');
  await knex.raw('drop function webhook_outbox');
  await knex.raw('drop function iso_utc');
  await knex.schema.dropTable('webhook_attempts');
  await knex.schema.dropTable('webhook_deliveries');
  await knex.schema.dropTable('webhooks');
}

import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { uuidv7 } from '../lib/ids';

export const WEBHOOK_EVENTS = ['mission.ended', 'batch.ended'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface Webhook {
  id: string;
  tenant_id: string;
  url: string;
  events: WebhookEvent[];
  description: string | null;
  created_at: Date;
  disabled_at: Date | null;
  disabled_reason: string | null;
}

export interface Delivery {
  id: string;
  webhook_id: string;
  type: WebhookEvent;
  payload: unknown;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: Date;
  created_at: Date;
  delivered_at: Date | null;
}

export interface Attempt {
  delivery_id: string;
  attempt: number;
  at: Date;
  duration_ms: number;
  response_status: number | null;
  response_body: string | null;
  error: string | null;
}

/** A delivery taken by a deliverer, with what it needs to send it. */
export interface ClaimedDelivery extends Pick<Delivery, 'id' | 'type' | 'payload' | 'attempts' | 'created_at'> {
  webhook_id: string;
  url: string;
  secret: string;
  disabled_at: Date | null;
}

/** How an attempt ended, and what becomes of its delivery. */
export interface AttemptOutcome {
  attempt: Omit<Attempt, 'delivery_id' | 'attempt'>;
  /** Delivered, failed for good, or tried again at `retryAt`. */
  next: { status: 'delivered' | 'failed' } | { status: 'pending'; retryAt: Date };
}

const WEBHOOK_COLUMNS = ['id', 'tenant_id', 'url', 'events', 'description', 'created_at', 'disabled_at', 'disabled_reason'];

/** A signing secret as Standard Webhooks writes them: `whsec_` and 24 random bytes in base64. */
const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/** Webhook endpoints, and the outbox of their deliveries (filled by triggers: migrations/012_webhooks.ts). */
export class WebhookStore {
  constructor(private readonly db: Knex) {}

  /**
   * Registers an endpoint; its secret is answered here only. Undefined when the tenant has `maxPerTenant`
   * already (counted under a lock on the tenant's row, so two at once cannot pass it).
   */
  async create(
    tenantId: string,
    fields: { url: string; events: readonly WebhookEvent[]; description?: string },
    maxPerTenant: number,
  ): Promise<{ webhook: Webhook; secret: string } | undefined> {
    const secret = newSecret();
    return this.db.transaction(async (trx) => {
      await trx('tenants').where({ id: tenantId }).forUpdate().first('id');
      const [{ count }] = (await trx('webhooks').where({ tenant_id: tenantId }).count({ count: '*' })) as [{ count: string }];
      if (Number(count) >= maxPerTenant) return undefined;
      const [webhook] = await trx('webhooks')
        .insert({ id: uuidv7(), tenant_id: tenantId, url: fields.url, events: fields.events, description: fields.description ?? null, secret })
        .returning(WEBHOOK_COLUMNS);
      return { webhook: webhook as Webhook, secret };
    });
  }

  /** One page of the tenant's endpoints, oldest first, after the endpoint `after`. */
  async list(tenantId: string, limit: number, after?: string): Promise<Webhook[]> {
    const query = this.db('webhooks').where({ tenant_id: tenantId }).orderBy('id').limit(limit).select(WEBHOOK_COLUMNS);
    if (after) query.where('id', '>', after);
    return query;
  }

  async find(tenantId: string, id: string): Promise<Webhook | undefined> {
    return this.db('webhooks').where({ tenant_id: tenantId, id }).first(WEBHOOK_COLUMNS);
  }

  /** Removes an endpoint and its deliveries; false when the tenant has no such endpoint. */
  async remove(tenantId: string, id: string): Promise<boolean> {
    return (await this.db('webhooks').where({ tenant_id: tenantId, id }).delete()) > 0;
  }

  /** One page of an endpoint's deliveries, newest first, each with its attempts in order. */
  async deliveries(webhookId: string, before: string | undefined, limit: number): Promise<(Delivery & { attempts_log: Attempt[] })[]> {
    const query = this.db<Delivery>('webhook_deliveries').where({ webhook_id: webhookId });
    if (before) query.whereRaw('(created_at, id) < (select created_at, id from webhook_deliveries where id = ?)', [before]);
    const page = await query.orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit);
    const attempts = await this.db<Attempt>('webhook_attempts').whereIn('delivery_id', page.map((delivery) => delivery.id)).orderBy(['delivery_id', 'attempt']);
    return page.map((delivery) => ({ ...delivery, attempts_log: attempts.filter((attempt) => attempt.delivery_id === delivery.id) }));
  }

  /** Sends a delivery again, under the same id, as soon as a deliverer is free; false when there is none such. */
  async redeliver(webhookId: string, deliveryId: string): Promise<boolean> {
    const updated = await this.db('webhook_deliveries')
      .where({ id: deliveryId, webhook_id: webhookId })
      .update({ status: 'pending', next_attempt_at: this.db.fn.now(), delivered_at: null });
    return updated > 0;
  }

  /**
   * Takes up to `limit` deliveries that are due and leases them for `leaseMs`: a deliverer that dies holding one
   * lets another take it once the lease runs out, so each is sent at least once. Claims go round the tenants
   * with deliveries due (each one's oldest first, then each one's second...), so one tenant's thousands of
   * retries to a failing endpoint never queue another tenant's first attempt behind them.
   */
  async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const { rows } = await this.db.raw(
      `with tenants as (
         select distinct w.tenant_id from webhooks w
         where exists (select 1 from webhook_deliveries d where d.webhook_id = w.id and d.status = 'pending' and d.next_attempt_at <= now())
       ), picked as (
         select t.tenant_id, p.id, p.next_attempt_at from tenants t cross join lateral (
           select d.id, d.next_attempt_at from webhook_deliveries d join webhooks w on w.id = d.webhook_id
           where w.tenant_id = t.tenant_id and d.status = 'pending' and d.next_attempt_at <= now()
           order by d.next_attempt_at limit :limit for update of d skip locked
         ) p
       ), due as (
         select id from (select id, next_attempt_at, row_number() over (partition by tenant_id order by next_attempt_at) as turn from picked) turns
         order by turn, next_attempt_at limit :limit
       )
       update webhook_deliveries d set attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => :lease)
       from due, webhooks w where d.id = due.id and w.id = d.webhook_id
       returning d.id, d.type, d.payload, d.attempts, d.created_at, w.id as webhook_id, w.url, w.secret, w.disabled_at`,
      { limit, lease: leaseMs / 1000 },
    );
    return rows;
  }

  /** Records an attempt and what becomes of its delivery, together. */
  async record(delivery: ClaimedDelivery, outcome: AttemptOutcome): Promise<void> {
    const { next } = outcome;
    await this.db.transaction(async (trx) => {
      await trx('webhook_attempts').insert({ delivery_id: delivery.id, attempt: delivery.attempts, ...outcome.attempt });
      await trx('webhook_deliveries')
        .where({ id: delivery.id })
        .update({
          status: next.status,
          ...(next.status === 'pending' && { next_attempt_at: next.retryAt }),
          ...(next.status === 'delivered' && { delivered_at: trx.fn.now() }),
        });
    });
  }

  /** Sends nothing more to an endpoint (it answered 410 Gone). */
  async disable(webhookId: string, reason: string): Promise<void> {
    await this.db('webhooks').where({ id: webhookId }).whereNull('disabled_at').update({ disabled_at: this.db.fn.now(), disabled_reason: reason });
  }

  /** Deliveries waiting to be sent, for the metrics. */
  async pending(): Promise<number> {
    return Number((await this.db('webhook_deliveries').where({ status: 'pending' }).count({ n: '*' }))[0]!.n);
  }
}

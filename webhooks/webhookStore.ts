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

/** A signing secret as Standard Webhooks writes them: `whsec_` and 24 random bytes in base64. */
const newSecret = () => `whsec_${randomBytes(24).toString('base64')}`;

/** Webhook endpoints, and the outbox of their deliveries (filled by triggers: migrations/012_webhooks.ts). */
export class WebhookStore {
  constructor(private readonly db: Knex) {}

  /** Registers an endpoint; its secret is answered here only. */
  async create(tenantId: string, fields: { url: string; events: readonly WebhookEvent[]; description?: string }): Promise<{ webhook: Webhook; secret: string }> {
    const secret = newSecret();
    const [webhook] = await this.db('webhooks')
      .insert({ id: uuidv7(), tenant_id: tenantId, url: fields.url, events: fields.events, description: fields.description ?? null, secret })
      .returning(['id', 'tenant_id', 'url', 'events', 'description', 'created_at', 'disabled_at', 'disabled_reason']);
    return { webhook: webhook as Webhook, secret };
  }

  async list(tenantId: string): Promise<Webhook[]> {
    return this.db('webhooks').where({ tenant_id: tenantId }).orderBy('id').select('id', 'tenant_id', 'url', 'events', 'description', 'created_at', 'disabled_at', 'disabled_reason');
  }

  async find(tenantId: string, id: string): Promise<Webhook | undefined> {
    return this.db('webhooks').where({ tenant_id: tenantId, id }).first('id', 'tenant_id', 'url', 'events', 'description', 'created_at', 'disabled_at', 'disabled_reason');
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
   * lets another take it once the lease runs out, so each is sent at least once.
   */
  async claim(limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
    const { rows } = await this.db.raw(
      `with due as (
         select id from webhook_deliveries where status = 'pending' and next_attempt_at <= now()
         order by next_attempt_at limit :limit for update skip locked
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

import { z } from 'zod';
import { isUuid } from '../../lib/ids';
import { refuseTenantUrl } from '../../lib/publicAddress';
import { WEBHOOK_EVENTS, type Attempt, type Delivery, type Webhook, type WebhookStore } from '../../webhooks/webhookStore';
import type { Caller } from '../apiKeys';
import { decodeCursor, isIdPosition, keysetPage, pageQuerySchema } from '../cursor';
import { HttpProblem } from '../problem';
import { iso } from '../views';
import { parse } from './parse';
import type { HandlerResult } from './result';

export interface WebhookHandlerDeps {
  webhooks: WebhookStore;
  /** Origins a webhook URL may have without https and the public-address rule (the operator's receivers). */
  webhookAllowlist: readonly string[];
  /** Endpoints one tenant may register (WEBHOOKS_PER_TENANT). */
  webhooksPerTenant: number;
}

export const newWebhookSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }).max(2_000),
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).refine((events) => new Set(events).size === events.length, 'each event once'),
    description: z.string().max(500).optional(),
  })
  .strict();


function webhookView(webhook: Webhook) {
  const { id, url, events, description, created_at: createdAt, disabled_at: disabledAt, disabled_reason: disabledReason } = webhook;
  return { id, url, events, description, created_at: iso(createdAt), disabled_at: iso(disabledAt), disabled_reason: disabledReason };
}

function deliveryView(delivery: Delivery & { attempts_log: Attempt[] }) {
  return {
    id: delivery.id,
    type: delivery.type,
    status: delivery.status,
    attempts: delivery.attempts_log.map((attempt) => ({
      attempt: attempt.attempt,
      at: iso(attempt.at),
      duration_ms: attempt.duration_ms,
      response_status: attempt.response_status,
      response_body: attempt.response_body,
      error: attempt.error,
    })),
    next_attempt_at: delivery.status === 'pending' ? iso(delivery.next_attempt_at) : null,
    created_at: iso(delivery.created_at),
    delivered_at: iso(delivery.delivered_at),
    payload: delivery.payload,
  };
}

const isDeliveryPosition = (value: unknown): value is { id: string } =>
  typeof (value as { id?: unknown } | null)?.id === 'string' && /^msg_[0-9a-f]{32}$/.test((value as { id: string }).id);

/** The webhook endpoints, free of any HTTP framework: plain input in, `{status, body}` out. */
export function webhookHandlers({ webhooks, webhookAllowlist, webhooksPerTenant }: WebhookHandlerDeps) {
  const findWebhook = async (caller: Caller, id: string) => {
    const webhook = isUuid(id) ? await webhooks.find(caller.tenantId, id) : undefined;
    if (!webhook) throw HttpProblem.notFound(`webhook ${id}`);
    return webhook;
  };

  return {
    /** Registers an endpoint; the answer holds its signing secret, which is never shown again. */
    async create(caller: Caller, body: unknown): Promise<HandlerResult> {
      const fields = parse(newWebhookSchema, body, 'the webhook');
      const refused = await refuseTenantUrl(fields.url, webhookAllowlist);
      if (refused) throw HttpProblem.invalidField(['url'], refused);
      const created = await webhooks.create(caller.tenantId, fields, webhooksPerTenant);
      if (!created) {
        throw new HttpProblem(409, 'too-many-webhooks', `A tenant may register ${webhooksPerTenant} webhook endpoints.`, 'remove one you no longer use (DELETE /v1/webhooks/:id)');
      }
      const { webhook, secret } = created;
      return { status: 201, body: { ...webhookView(webhook), secret }, headers: { Location: `/v1/webhooks/${webhook.id}` } };
    },

    async list(caller: Caller, query: unknown): Promise<HandlerResult> {
      const { limit, cursor } = parse(pageQuerySchema, query, 'the query');
      const after = cursor === undefined ? undefined : decodeCursor(cursor, isIdPosition).id;
      const page = keysetPage(await webhooks.list(caller.tenantId, limit + 1, after), limit, (last) => ({ id: last.id }));
      return { status: 200, body: { data: page.data.map(webhookView), next_cursor: page.next_cursor } };
    },

    async remove(caller: Caller, id: string): Promise<HandlerResult> {
      if (!(isUuid(id) && (await webhooks.remove(caller.tenantId, id)))) throw HttpProblem.notFound(`webhook ${id}`);
      return { status: 204, body: undefined };
    },

    /** An endpoint's deliveries, newest first, each with every attempt and what the endpoint answered. */
    async deliveries(caller: Caller, id: string, query: unknown): Promise<HandlerResult> {
      const { limit, cursor } = parse(pageQuerySchema, query, 'the query');
      const webhook = await findWebhook(caller, id);
      const before = cursor === undefined ? undefined : decodeCursor(cursor, isDeliveryPosition).id;
      const page = keysetPage(await webhooks.deliveries(webhook.id, before, limit + 1), limit, (last) => ({ id: last.id }));
      return { status: 200, body: { data: page.data.map(deliveryView), next_cursor: page.next_cursor } };
    },

    /** Sends a delivery again, under its id, whatever became of it. */
    async redeliver(caller: Caller, id: string, deliveryId: string): Promise<HandlerResult> {
      const webhook = await findWebhook(caller, id);
      if (!(await webhooks.redeliver(webhook.id, deliveryId))) throw HttpProblem.notFound(`delivery ${deliveryId}`);
      return { status: 202, body: { id: deliveryId, status: 'pending' } };
    },
  };
}

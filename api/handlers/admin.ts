import { z } from 'zod';
import { isUuid } from '../../lib/ids';
import type { ApiKeys } from '../apiKeys';
import { HttpProblem } from '../problem';
import type { HandlerResult } from './result';

const tenantSettings = {
  rate_limit_per_minute: z.number().int().min(1).max(1_000_000).nullable(),
  /** Lets the tenant's missions send model calls to a URL of their own (https and public addresses only). */
  allow_llm_base_url: z.boolean(),
};

export const newTenantSchema = z
  .object({
    name: z.string().trim().min(1).max(100).regex(/^[\w.-]+$/, 'letters, digits, dot, dash and underscore only'),
    rate_limit_per_minute: tenantSettings.rate_limit_per_minute.default(null),
    allow_llm_base_url: tenantSettings.allow_llm_base_url.default(false),
  })
  .strict();

export const tenantChangesSchema = z
  .object(tenantSettings)
  .partial()
  .strict()
  .refine((changes) => Object.keys(changes).length > 0, 'change at least one setting');

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw HttpProblem.validation(parsed.error, 'the tenant');
  return parsed.data;
}

/** Tenant administration: only the admin key reaches these. */
export function adminHandlers(keys: ApiKeys) {
  return {
    /** Creates a tenant and returns its API key, the only time the key is shown. */
    async createTenant(body: unknown): Promise<HandlerResult> {
      const { name, ...settings } = parse(newTenantSchema, body);
      const created = await keys.createTenant(name, settings);
      if (!created) throw new HttpProblem(409, 'tenant-exists', 'A tenant with this name exists.');
      return { status: 201, body: created };
    },

    async updateTenant(id: string, body: unknown): Promise<HandlerResult> {
      const changes = parse(tenantChangesSchema, body);
      const tenant = isUuid(id) ? await keys.updateTenant(id, changes) : undefined;
      if (!tenant) throw HttpProblem.notFound(`tenant ${id}`);
      return { status: 200, body: tenant };
    },
  };
}

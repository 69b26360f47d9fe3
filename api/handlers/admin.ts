import { z } from 'zod';
import type { ApiKeys } from '../apiKeys';
import { HttpProblem } from '../problem';
import type { HandlerResult } from './result';

export const newTenantSchema = z
  .object({
    name: z.string().trim().min(1).max(100).regex(/^[\w.-]+$/, 'letters, digits, dot, dash and underscore only'),
    rate_limit_per_minute: z.number().int().min(1).max(1_000_000).nullable().default(null),
  })
  .strict();

/** Tenant administration: only the admin key reaches these. */
export function adminHandlers(keys: ApiKeys) {
  return {
    /** Creates a tenant and returns its API key, the only time the key is shown. */
    async createTenant(body: unknown): Promise<HandlerResult> {
      const parsed = newTenantSchema.safeParse(body);
      if (!parsed.success) throw HttpProblem.validation(parsed.error, 'the tenant');
      const created = await keys.createTenant(parsed.data.name, parsed.data.rate_limit_per_minute);
      if (!created) throw new HttpProblem(409, 'tenant-exists', 'A tenant with this name exists.');
      return { status: 201, body: created };
    },
  };
}

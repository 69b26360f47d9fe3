import { z } from 'zod';
import { isUuid } from '../../lib/ids';
import type { MissionStore } from '../../store/missionStore';
import type { ApiKeys, KeyListing } from '../apiKeys';
import { decodeCursor, isIdPosition, keysetPage, pageQuerySchema } from '../cursor';
import { parse } from './parse';
import { iso } from '../views';
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


const keyView = (key: KeyListing) => ({ key_id: key.key_id, created_at: iso(key.created_at), last_used_at: iso(key.last_used_at), revoked_at: iso(key.revoked_at) });

/** Tenant administration: only the admin key reaches these. */
export function adminHandlers(keys: ApiKeys, store: MissionStore) {
  return {
    /** Creates a tenant and returns its API key, the only time the key is shown. */
    async createTenant(body: unknown): Promise<HandlerResult> {
      const { name, ...settings } = parse(newTenantSchema, body, 'the tenant');
      const created = await keys.createTenant(name, settings);
      if (!created) throw new HttpProblem(409, 'tenant-exists', 'A tenant with this name exists.');
      return { status: 201, body: created };
    },

    async updateTenant(id: string, body: unknown): Promise<HandlerResult> {
      const changes = parse(tenantChangesSchema, body, 'the tenant');
      const tenant = isUuid(id) ? await keys.updateTenant(id, changes) : undefined;
      if (!tenant) throw HttpProblem.notFound(`tenant ${id}`);
      return { status: 200, body: tenant };
    },

    /** What the tenant's missions store now (steps and their events), for quotas and bills. */
    async storage(tenantId: string): Promise<HandlerResult> {
      if (!(isUuid(tenantId) && (await keys.tenantExists(tenantId)))) throw HttpProblem.notFound(`tenant ${tenantId}`);
      return { status: 200, body: { tenant_id: tenantId, ...(await store.storageOf(tenantId)) } };
    },

    /** A new key for the tenant, shown this once; its other keys keep working (rotation: create, switch, revoke). */
    async createKey(tenantId: string): Promise<HandlerResult> {
      const created = isUuid(tenantId) ? await keys.createKey(tenantId) : undefined;
      if (!created) throw HttpProblem.notFound(`tenant ${tenantId}`);
      return { status: 201, body: created };
    },

    async listKeys(tenantId: string, query: unknown): Promise<HandlerResult> {
      const { limit, cursor } = parse(pageQuerySchema, query, 'the query');
      const after = cursor === undefined ? undefined : decodeCursor(cursor, isIdPosition).id;
      const rows = isUuid(tenantId) ? await keys.listKeys(tenantId, limit + 1, after) : undefined;
      if (!rows) throw HttpProblem.notFound(`tenant ${tenantId}`);
      const page = keysetPage(rows, limit, (last) => ({ id: last.key_id }));
      return { status: 200, body: { data: page.data.map(keyView), next_cursor: page.next_cursor } };
    },

    /** Revokes a key: refused by every API process within seconds, and what was opened with it ends. */
    async revokeKey(tenantId: string, keyId: string): Promise<HandlerResult> {
      if (!(isUuid(tenantId) && isUuid(keyId) && (await keys.revokeKey(tenantId, keyId)))) throw HttpProblem.notFound(`key ${keyId} of tenant ${tenantId}`);
      return { status: 204, body: undefined };
    },
  };
}

import type { Knex } from 'knex';

/**
 * Whether a tenant may have its missions call a model URL of its own, as the tenants table says now: read at
 * every admission (a retry and a run again included) and before every call to such a URL, so taking the
 * permission away stops calls that were already accepted.
 */
export function ownUrlPermission(db: Knex): (tenantId: string) => Promise<boolean> {
  return async (tenantId) => (await db('tenants').where({ id: tenantId }).first('allow_llm_base_url'))?.allow_llm_base_url === true;
}

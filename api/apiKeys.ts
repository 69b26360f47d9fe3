import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { uuidv7 } from '../lib/ids';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';

/** Who is calling: resolved from the API key on every /v1 request. */
export interface Caller {
  tenantId: string;
  admin: boolean;
  /** Requests per minute this caller may make; null for the default. */
  rateLimitPerMinute: number | null;
  /** Whether its missions may name a model URL of their own (`llm.base_url`). */
  allowLlmBaseUrl: boolean;
}

export interface Tenant {
  id: string;
  name: string;
  rate_limit_per_minute: number | null;
  allow_llm_base_url: boolean;
}

export interface CreatedTenant {
  tenant: Tenant;
  api_key: string;
}

const TENANT_COLUMNS = ['id', 'name', 'rate_limit_per_minute', 'allow_llm_base_url'];

/** The admin key acts as the admin tenant, with every permission. */
export const ADMIN_CALLER: Caller = Object.freeze({ tenantId: ADMIN_TENANT_ID, admin: true, rateLimitPerMinute: null, allowLlmBaseUrl: true });

const digest = (key: string) => createHash('sha256').update(key).digest();

/**
 * Tenants' API keys, stored as SHA-256 hashes: a key is shown once, when it is created. Resolved keys are
 * cached briefly, so most requests cost no query; a revoked key stops working within `cacheTtlMs`.
 */
export class ApiKeys {
  private readonly adminDigest: Buffer;
  private readonly cache = new Map<string, { caller: Caller | undefined; until: number }>();
  private readonly tenants = new Map<string, { tenant: { caller: Caller; name: string } | undefined; until: number }>();

  constructor(
    private readonly db: Knex,
    adminApiKey: string,
    private readonly cacheTtlMs = 30_000,
  ) {
    this.adminDigest = digest(adminApiKey);
  }

  async resolve(key: string): Promise<Caller | undefined> {
    const hash = digest(key);
    if (timingSafeEqual(hash, this.adminDigest)) return ADMIN_CALLER;
    const cacheKey = hash.toString('base64');
    const cached = this.cache.get(cacheKey);
    if (cached && cached.until > Date.now()) return cached.caller;
    const row = await this.db('api_keys')
      .join('tenants', 'tenants.id', 'api_keys.tenant_id')
      .where({ key_hash: hash })
      .whereNull('revoked_at')
      .first('tenants.id as tenant_id', 'tenants.rate_limit_per_minute', 'tenants.allow_llm_base_url');
    const caller = row
      ? { tenantId: row.tenant_id, admin: false, rateLimitPerMinute: row.rate_limit_per_minute, allowLlmBaseUrl: row.allow_llm_base_url }
      : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(cacheKey, { caller, until: Date.now() + this.cacheTtlMs });
    return caller;
  }

  /**
   * Who a tenant's browser session acts as, with the tenant's name; undefined when there is no such tenant.
   * Cached like keys, so a console page costs no query for it.
   */
  async tenant(tenantId: string): Promise<{ caller: Caller; name: string } | undefined> {
    const cacheKey = `tenant:${tenantId}`;
    const cached = this.tenants.get(cacheKey);
    if (cached && cached.until > Date.now()) return cached.tenant;
    const row = (await this.db('tenants').where({ id: tenantId }).first(TENANT_COLUMNS)) as Tenant | undefined;
    const tenant = row && {
      caller: { tenantId: row.id, admin: false, rateLimitPerMinute: row.rate_limit_per_minute, allowLlmBaseUrl: row.allow_llm_base_url },
      name: row.name,
    };
    if (this.tenants.size > 10_000) this.tenants.clear();
    this.tenants.set(cacheKey, { tenant, until: Date.now() + this.cacheTtlMs });
    return tenant;
  }

  /** Creates a tenant and its first API key. Undefined when the name is taken. */
  async createTenant(name: string, settings: Omit<Tenant, 'id' | 'name'>): Promise<CreatedTenant | undefined> {
    const key = `mc_${randomBytes(24).toString('base64url')}`;
    const tenant: Tenant = { id: uuidv7(), name, ...settings };
    return this.db.transaction(async (trx) => {
      const inserted = await trx('tenants').insert(tenant).onConflict('name').ignore().returning('id');
      if (inserted.length === 0) return undefined;
      await trx('api_keys').insert({ id: uuidv7(), tenant_id: tenant.id, key_hash: digest(key), key_prefix: key.slice(0, 8) });
      return { tenant, api_key: key };
    });
  }

  /**
   * Changes a tenant's settings; undefined when there is no such tenant. This process sees the change at once,
   * other API processes within `cacheTtlMs`.
   */
  async updateTenant(id: string, changes: Partial<Omit<Tenant, 'id' | 'name'>>): Promise<Tenant | undefined> {
    const [tenant] = (await this.db('tenants').where({ id }).update(changes).returning(TENANT_COLUMNS)) as Tenant[];
    this.cache.clear();
    this.tenants.clear();
    return tenant;
  }
}

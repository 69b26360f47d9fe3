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
}

export interface CreatedTenant {
  tenant: { id: string; name: string; rate_limit_per_minute: number | null };
  api_key: string;
}

const digest = (key: string) => createHash('sha256').update(key).digest();

/**
 * Tenants' API keys, stored as SHA-256 hashes: a key is shown once, when it is created. Resolved keys are
 * cached briefly, so most requests cost no query; a revoked key stops working within `cacheTtlMs`.
 */
export class ApiKeys {
  private readonly adminDigest: Buffer;
  private readonly cache = new Map<string, { caller: Caller | undefined; until: number }>();

  constructor(
    private readonly db: Knex,
    adminApiKey: string,
    private readonly cacheTtlMs = 30_000,
  ) {
    this.adminDigest = digest(adminApiKey);
  }

  async resolve(key: string): Promise<Caller | undefined> {
    const hash = digest(key);
    if (timingSafeEqual(hash, this.adminDigest)) return { tenantId: ADMIN_TENANT_ID, admin: true, rateLimitPerMinute: null };
    const cacheKey = hash.toString('base64');
    const cached = this.cache.get(cacheKey);
    if (cached && cached.until > Date.now()) return cached.caller;
    const row = await this.db('api_keys')
      .join('tenants', 'tenants.id', 'api_keys.tenant_id')
      .where({ key_hash: hash })
      .whereNull('revoked_at')
      .first('tenants.id as tenant_id', 'tenants.rate_limit_per_minute');
    const caller = row ? { tenantId: row.tenant_id, admin: false, rateLimitPerMinute: row.rate_limit_per_minute } : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(cacheKey, { caller, until: Date.now() + this.cacheTtlMs });
    return caller;
  }

  /** Creates a tenant and its first API key. Undefined when the name is taken. */
  async createTenant(name: string, rateLimitPerMinute: number | null): Promise<CreatedTenant | undefined> {
    const key = `mc_${randomBytes(24).toString('base64url')}`;
    const tenant = { id: uuidv7(), name, rate_limit_per_minute: rateLimitPerMinute };
    return this.db.transaction(async (trx) => {
      const inserted = await trx('tenants').insert(tenant).onConflict('name').ignore().returning('id');
      if (inserted.length === 0) return undefined;
      await trx('api_keys').insert({ id: uuidv7(), tenant_id: tenant.id, key_hash: digest(key), key_prefix: key.slice(0, 8) });
      return { tenant, api_key: key };
    });
  }
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import { isUuid, uuidv7 } from '../lib/ids';
import { LruCache } from '../lib/lruCache';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';

/** Who is calling: resolved from the API key on every /v1 request. */
export interface Caller {
  tenantId: string;
  admin: boolean;
  /** Requests per minute this caller may make; null for the default. */
  rateLimitPerMinute: number | null;
  /** The key it called with (an `api_keys` id, or the admin's): what a revocation ends. */
  keyId: string;
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

/** A tenant's API key as the keys API lists it: never the key or its hash. */
export interface KeyListing {
  key_id: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const TENANT_COLUMNS = ['id', 'name', 'rate_limit_per_minute', 'allow_llm_base_url'];
/** Postgres channel that carries the id of every key revoked, to every API process (MissionEventHub listens). */
export const KEYS_CHANNEL = 'api_keys_revoked';
const KNOWN_KEYS = 10_000;
const UNKNOWN_KEYS = 1_000;

/** The admin key acts as the admin tenant, with every permission. */
export const ADMIN_CALLER: Caller = Object.freeze({ tenantId: ADMIN_TENANT_ID, admin: true, rateLimitPerMinute: null, keyId: 'admin' });

const digest = (key: string) => createHash('sha256').update(key).digest();
const newKey = () => `mc_${randomBytes(24).toString('base64url')}`;

type KeyRow = { key_id: string; tenant_id: string; name: string; rate_limit_per_minute: number | null };
const callerOf = (row: KeyRow): Caller => ({
  tenantId: row.tenant_id,
  admin: false,
  rateLimitPerMinute: row.rate_limit_per_minute,
  keyId: row.key_id,
});

/**
 * Tenants' API keys, stored as SHA-256 hashes: a key is shown once, when it is created. Resolved keys are cached
 * in a bounded LRU (unknown keys in one of their own, so guessing pushes out no tenant's key). A revoked key is
 * forgotten by every API process when the revocation's notification reaches it (`forget`); the cache's time to
 * live only bounds what a lost notification can leave.
 */
export class ApiKeys {
  private readonly adminDigest: Buffer;
  /** The admin's sessions name this key id: another admin key ends them. */
  readonly adminKeyId: string;
  private readonly adminCaller: Caller;
  private readonly known: LruCache<{ caller: Caller; name: string }>;
  private readonly unknown: LruCache<true>;
  private readonly byId: LruCache<{ caller: Caller; name: string } | null>;

  constructor(
    private readonly db: Knex,
    adminApiKey: string,
    cacheTtlMs = 30_000,
  ) {
    this.adminDigest = digest(adminApiKey);
    this.adminKeyId = `admin-${this.adminDigest.toString('hex').slice(0, 16)}`;
    this.adminCaller = Object.freeze({ ...ADMIN_CALLER, keyId: this.adminKeyId });
    this.known = new LruCache(KNOWN_KEYS, cacheTtlMs);
    this.unknown = new LruCache(UNKNOWN_KEYS, cacheTtlMs);
    this.byId = new LruCache(KNOWN_KEYS, cacheTtlMs);
  }

  async resolve(key: string): Promise<Caller | undefined> {
    const hash = digest(key);
    if (timingSafeEqual(hash, this.adminDigest)) return this.adminCaller;
    const cacheKey = hash.toString('base64');
    const cached = this.known.get(cacheKey);
    if (cached) return cached.caller;
    if (this.unknown.get(cacheKey)) return undefined;
    const row = await this.keyRows().where({ key_hash: hash }).first();
    if (!row) {
      this.unknown.set(cacheKey, true);
      return undefined;
    }
    this.known.set(cacheKey, { caller: callerOf(row), name: row.name });
    this.markUsed(row.key_id);
    return callerOf(row);
  }

  /**
   * Who a browser session made with key `keyId` acts as, with the tenant's name; undefined once that key is
   * revoked (or, for the admin, once the admin key changed).
   */
  async session(keyId: string): Promise<{ caller: Caller; name: string } | undefined> {
    if (keyId === this.adminKeyId) return { caller: this.adminCaller, name: 'admin' };
    if (!isUuid(keyId)) return undefined;
    const cached = this.byId.get(keyId);
    if (cached !== undefined) return cached ?? undefined;
    const row = await this.keyRows().where('api_keys.id', keyId).first();
    const found = row ? { caller: callerOf(row), name: row.name } : null;
    this.byId.set(keyId, found);
    return found ?? undefined;
  }

  /** Forgets what this process cached of key `keyId`: it was revoked (by any process). */
  forget(keyId: string): void {
    this.known.deleteWhere((entry) => entry.caller.keyId === keyId);
    this.byId.set(keyId, null);
  }

  /** Creates a tenant and its first API key. Undefined when the name is taken. */
  async createTenant(name: string, settings: Omit<Tenant, 'id' | 'name'>): Promise<CreatedTenant | undefined> {
    const tenant: Tenant = { id: uuidv7(), name, ...settings };
    return this.db.transaction(async (trx) => {
      const inserted = await trx('tenants').insert(tenant).onConflict('name').ignore().returning('id');
      if (inserted.length === 0) return undefined;
      const { api_key } = await this.insertKey(trx, tenant.id);
      return { tenant, api_key };
    });
  }

  /** A new key for tenant `tenantId`; undefined when there is no such tenant (the admin tenant has none). */
  async createKey(tenantId: string): Promise<{ key_id: string; api_key: string } | undefined> {
    if (tenantId === ADMIN_TENANT_ID || !(await this.tenantExists(tenantId))) return undefined;
    return this.insertKey(this.db, tenantId);
  }

  /** The tenant's keys, newest first, `limit` after the key `after` (keyset pages); undefined when no such tenant. */
  async listKeys(tenantId: string, limit: number, after?: string): Promise<KeyListing[] | undefined> {
    if (!(await this.tenantExists(tenantId))) return undefined;
    const query = this.db('api_keys')
      .where({ tenant_id: tenantId })
      .orderBy('id', 'desc')
      .limit(limit)
      .select('id as key_id', 'created_at', 'last_used_at', 'revoked_at');
    if (after) query.where('id', '<', after);
    return query;
  }

  async tenantExists(tenantId: string): Promise<boolean> {
    return (await this.db('tenants').where({ id: tenantId }).first('id')) !== undefined;
  }

  /**
   * Revokes a key: refused from the moment this commits by this process, and by every other API process when
   * the notification sent with the commit reaches it. False when the tenant has no such key.
   */
  async revokeKey(tenantId: string, keyId: string): Promise<boolean> {
    const revoked = await this.db.transaction(async (trx) => {
      const rows = await trx('api_keys').where({ id: keyId, tenant_id: tenantId }).update({ revoked_at: trx.raw('coalesce(revoked_at, now())') }).returning('id');
      if (rows.length > 0) await trx.raw('select pg_notify(?, ?)', [KEYS_CHANNEL, keyId]);
      return rows.length > 0;
    });
    if (revoked) this.forget(keyId);
    return revoked;
  }

  /**
   * Changes a tenant's settings; undefined when there is no such tenant. This process sees the change at once,
   * other API processes within the cache's time to live.
   */
  async updateTenant(id: string, changes: Partial<Omit<Tenant, 'id' | 'name'>>): Promise<Tenant | undefined> {
    const [tenant] = (await this.db('tenants').where({ id }).update(changes).returning(TENANT_COLUMNS)) as Tenant[];
    this.known.clear();
    this.byId.clear();
    return tenant;
  }

  private keyRows() {
    return this.db('api_keys')
      .join('tenants', 'tenants.id', 'api_keys.tenant_id')
      .whereNull('api_keys.revoked_at')
      .select<KeyRow[]>('api_keys.id as key_id', 'tenants.id as tenant_id', 'tenants.name', 'tenants.rate_limit_per_minute');
  }

  private async insertKey(db: Knex, tenantId: string): Promise<{ key_id: string; api_key: string }> {
    const key = newKey();
    const id = uuidv7();
    await db('api_keys').insert({ id, tenant_id: tenantId, key_hash: digest(key), key_prefix: key.slice(0, 8) });
    return { key_id: id, api_key: key };
  }

  /** Notes the key's use, at most about once a minute (a lookup that missed the cache; never awaited). */
  private markUsed(keyId: string): void {
    void this.db('api_keys')
      .where({ id: keyId })
      .andWhere((query) => query.whereNull('last_used_at').orWhere('last_used_at', '<', this.db.raw("now() - interval '1 minute'")))
      .update({ last_used_at: this.db.fn.now() })
      .catch(() => undefined);
  }
}

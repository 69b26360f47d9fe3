import type { ApiClient } from './client';
import { EXIT } from './exitCodes';
import { json, out } from './output';

interface KeyListing {
  key_id: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** `missions admin keys ...`: a tenant's API keys (the admin key). Rotating is create, switch over, revoke. */
export function keyCommands(client: ApiClient, asJson: boolean) {
  const keysOf = (tenant: string) => `/v1/admin/tenants/${encodeURIComponent(tenant)}/keys`;
  return {
    async create(tenant: string): Promise<number> {
      const created = await client.expect<{ key_id: string; api_key: string }>('POST', keysOf(tenant));
      if (asJson) json(created);
      else {
        out(`key ${created.key_id} created; the key, shown this once:`);
        out(created.api_key);
      }
      return EXIT.ok;
    },

    async list(tenant: string): Promise<number> {
      const keys = await client.all<KeyListing>(`${keysOf(tenant)}?limit=100`);
      if (asJson) json(keys);
      else for (const key of keys) out(`${key.key_id} created ${key.created_at} last used ${key.last_used_at ?? 'never'}${key.revoked_at ? ` revoked ${key.revoked_at}` : ''}`);
      return EXIT.ok;
    },

    async revoke(tenant: string, keyId: string): Promise<number> {
      await client.expect('DELETE', `${keysOf(tenant)}/${encodeURIComponent(keyId)}`);
      if (!asJson) out(`key ${keyId} revoked`);
      return EXIT.ok;
    },
  };
}

import type { ApiClient } from './client';
import { EXIT } from './exitCodes';
import { json, out } from './output';

/** `missions webhooks ...`: the tenant's endpoints for mission.ended and batch.ended. */
export function webhookCommands(client: ApiClient, asJson: boolean) {
  return {
    async add(url: string, options: { events: string; description?: string }): Promise<number> {
      const created = await client.expect<{ id: string; secret: string; events: string[] }>('POST', '/v1/webhooks', {
        url,
        events: options.events.split(','),
        ...(options.description && { description: options.description }),
      });
      if (asJson) json(created);
      else {
        out(`webhook ${created.id} for ${created.events.join(', ')}; its signing secret, shown this once:`);
        out(created.secret);
      }
      return EXIT.ok;
    },

    async list(): Promise<number> {
      type Hook = { id: string; url: string; events: string[]; disabled_at: string | null; disabled_reason: string | null };
      const data = await client.all<Hook>('/v1/webhooks?limit=100');
      if (asJson) json(data);
      else for (const hook of data) out(`${hook.id} ${hook.url} ${hook.events.join(',')}${hook.disabled_at ? ` (disabled: ${hook.disabled_reason})` : ''}`);
      return EXIT.ok;
    },

    async remove(id: string): Promise<number> {
      await client.expect('DELETE', `/v1/webhooks/${id}`);
      if (!asJson) out(`webhook ${id} removed`);
      return EXIT.ok;
    },
  };
}

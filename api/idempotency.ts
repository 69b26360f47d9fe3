import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { storableJson } from '../lib/text';
import type { HandlerResult } from './handlers/result';
import { HttpProblem } from './problem';

const KEY = /^[\x21-\x7e]{1,255}$/;

/** What a request with an Idempotency-Key is: its method and path, and its body. */
export interface KeyedRequest {
  method: string;
  path: string;
  body: unknown;
}

/**
 * What a key is bound to: the method and path, and the body as canonical JSON (object keys sorted), so the
 * same request with its keys in another order is the same request, and the key on another route is not.
 */
export function requestHash({ method, path, body }: KeyedRequest): string {
  return createHash('sha256').update(`${method} ${path}\n`).update(canonicalJson(body ?? null)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * `Idempotency-Key` for submissions: the first request with a key runs and its response is stored; the same key
 * with the same request (route and body) replays that response, headers included; with another request it is a
 * 422, and while the first is still running a 409. A request that fails on our side (5xx) frees its key, so the client can retry with it.
 */
export class Idempotency {
  constructor(
    private readonly db: Knex,
    private readonly lockMs = 60_000,
  ) {}

  async run(tenantId: string, key: string | undefined, request: KeyedRequest, handler: () => Promise<HandlerResult>): Promise<HandlerResult> {
    if (key === undefined) return handler();
    if (!KEY.test(key)) {
      throw new HttpProblem(400, 'invalid-idempotency-key', 'The Idempotency-Key header is not valid.', 'use 1 to 255 printable ASCII characters');
    }
    const hash = requestHash(request);
    const { rows } = await this.db.raw(
      `insert into idempotency_keys (tenant_id, key, request_hash, locked_until)
       values (:tenant, :key, :hash, now() + make_interval(secs => :lock))
       on conflict (tenant_id, key) do update
         set request_hash = excluded.request_hash, locked_until = excluded.locked_until, created_at = now()
         where idempotency_keys.response_status is null and idempotency_keys.locked_until < now()
       returning key`,
      { tenant: tenantId, key, hash, lock: this.lockMs / 1000 },
    );
    if (rows.length === 0) return this.existing(tenantId, key, hash);
    let result: HandlerResult;
    try {
      result = await handler();
    } catch (error) {
      if (error instanceof HttpProblem && error.status < 500) await this.store(tenantId, key, { status: error.status, body: error.toBody() });
      else await this.db('idempotency_keys').where({ tenant_id: tenantId, key }).delete();
      throw error;
    }
    await this.store(tenantId, key, result);
    return result;
  }

  private async existing(tenantId: string, key: string, requestHash: string): Promise<HandlerResult> {
    const row = await this.db('idempotency_keys').where({ tenant_id: tenantId, key }).first();
    if (!row) throw new HttpProblem(409, 'idempotency-key-in-use', 'A request with this Idempotency-Key is still running.');
    if (row.request_hash !== requestHash) {
      throw new HttpProblem(422, 'idempotency-key-reused', 'This Idempotency-Key was used with a different request (another body, or another route).');
    }
    if (row.response_status === null) {
      throw new HttpProblem(409, 'idempotency-key-in-use', 'A request with this Idempotency-Key is still running.', 'retry in a moment');
    }
    return { status: row.response_status, body: row.response_body, headers: { ...row.response_headers, 'Idempotent-Replayed': 'true' } };
  }

  private async store(tenantId: string, key: string, result: HandlerResult): Promise<void> {
    await this.db('idempotency_keys')
      .where({ tenant_id: tenantId, key })
      .update({
        response_status: result.status,
        response_body: storableJson(result.body),
        response_headers: JSON.stringify(result.headers ?? {}),
        locked_until: null,
      });
  }
}

import type { Knex } from 'knex';
import { storableJson } from '../lib/text';

/** Recorded model calls, by mission and order: what `record` stores and the `replay` policy answers from. */
export class LlmCalls {
  constructor(private readonly db: Knex) {}

  /** Stores a call and its answer, counting their bytes in the mission's stored_bytes (which MISSION_STORED_MB bounds). */
  async record(missionId: string, callIndex: number, request: unknown, response: unknown): Promise<void> {
    const row = { mission_id: missionId, call_index: callIndex, request: storableJson(request), response: storableJson(response) };
    await this.db.raw(
      `with recorded as (
         insert into llm_calls (mission_id, call_index, request, response) values (:mission_id, :call_index, :request, :response)
         on conflict (mission_id, call_index) do update set request = excluded.request, response = excluded.response
       )
       update missions set stored_bytes = stored_bytes + :bytes where id = :mission_id`,
      { ...row, bytes: Buffer.byteLength(row.request) + Buffer.byteLength(row.response) },
    );
  }

  /** The recorded answers of a tenant's mission, in order; undefined when the tenant has no such mission. */
  async responses(tenantId: string, missionId: string): Promise<unknown[] | undefined> {
    const owned = await this.db('missions').where({ id: missionId, tenant_id: tenantId }).first('id');
    if (!owned) return undefined;
    const rows = await this.db('llm_calls').where({ mission_id: missionId }).orderBy('call_index').select('response');
    return rows.map((row: { response: unknown }) => row.response);
  }
}

import type { Knex } from 'knex';
import { storableJson } from '../lib/text';

/** Recorded model calls, by mission and order: what `record` stores and the `replay` policy answers from. */
export class LlmCalls {
  constructor(private readonly db: Knex) {}

  async record(missionId: string, callIndex: number, request: unknown, response: unknown): Promise<void> {
    await this.db('llm_calls')
      .insert({ mission_id: missionId, call_index: callIndex, request: storableJson(request), response: storableJson(response) })
      .onConflict(['mission_id', 'call_index'])
      .merge();
  }

  /** The recorded answers of a tenant's mission, in order; undefined when the tenant has no such mission. */
  async responses(tenantId: string, missionId: string): Promise<unknown[] | undefined> {
    const owned = await this.db('missions').where({ id: missionId, tenant_id: tenantId }).first('id');
    if (!owned) return undefined;
    const rows = await this.db('llm_calls').where({ mission_id: missionId }).orderBy('call_index').select('response');
    return rows.map((row: { response: unknown }) => row.response);
  }
}

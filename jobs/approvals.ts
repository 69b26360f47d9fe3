import type { Knex } from 'knex';
import { EVENTS_CHANNEL } from './missionProgress';
import type { SandboxedCall } from './tools';

export interface Approval {
  mission_id: string;
  seq: number;
  thought: string | null;
  tool: string;
  input: unknown;
  status: 'pending' | 'approved' | 'rejected';
  reason: string | null;
}

/** Steps that wait for a human, and the decisions. */
export class Approvals {
  constructor(private readonly db: Knex) {}

  async get(missionId: string, seq: number): Promise<Approval | undefined> {
    return this.db<Approval>('approvals').where({ mission_id: missionId, seq }).first();
  }

  /**
   * Asks for approval of step `seq` and parks the mission in waiting_approval, in one statement; the worker
   * then lets the mission go, so a mission waiting for a human holds no worker slot.
   */
  async request(missionId: string, seq: number, thought: string | null, call: SandboxedCall): Promise<void> {
    await this.db.raw(
      `with a as (
         insert into approvals (mission_id, seq, thought, tool, input) values (:id, :seq, :thought, :tool, :input)
         on conflict (mission_id, seq) do nothing
       ), m as (
         update missions set status = 'waiting_approval' where id = :id and status = 'running' returning id
       ), e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_build_object('status', 'waiting_approval', 'step', :seq::int, 'tool', :tool::text, 'input', :input::jsonb)
         from m returning mission_id
       )
       select pg_notify(:channel, mission_id::text) from e`,
      { id: missionId, seq, thought, tool: call.tool, input: JSON.stringify(call.input), channel: EVENTS_CHANNEL },
    );
  }

  /**
   * Records a tenant's decision on the step its waiting mission asked about, and queues the mission again.
   * Returns false when the mission is not waiting for approval. `enqueued_at` is set, not cleared: the caller
   * enqueues it at once (MissionSubmitter.requeue), and the reconciler must not add a second job meanwhile.
   */
  async decide(tenantId: string, missionId: string, approved: boolean, reason: string | null): Promise<boolean> {
    const { rows } = await this.db.raw(
      `with m as (
         update missions set status = 'queued', enqueued_at = now()
         where id = :id and tenant_id = :tenant and status = 'waiting_approval' returning id
       ), a as (
         update approvals set status = :status, reason = :reason, decided_at = now()
         where mission_id in (select id from m) and status = 'pending' returning mission_id
       ), e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_build_object('status', 'queued', 'approval', :status::text) from m returning mission_id
       )
       select pg_notify(:channel, mission_id::text) from e`,
      { id: missionId, tenant: tenantId, status: approved ? 'approved' : 'rejected', reason, channel: EVENTS_CHANNEL },
    );
    return rows.length === 1;
  }
}

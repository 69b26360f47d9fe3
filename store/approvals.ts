import type { Knex } from 'knex';
import { storableJson, storableString } from '../lib/text';
import type { Enqueueable } from './missionStore';
import { EVENTS_CHANNEL } from './missionProgress';
import type { ModelUsage } from '../jobs/mission';
import type { SandboxedCall } from '../jobs/tools';

export interface Approval {
  mission_id: string;
  seq: number;
  thought: string | null;
  tool: string;
  input: unknown;
  status: 'pending' | 'approved' | 'rejected';
  reason: string | null;
  /** The model call that chose the step, recorded with the step once decided. */
  usage: ModelUsage | null;
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
  async request(missionId: string, seq: number, thought: string | null, call: SandboxedCall, usage: ModelUsage | undefined): Promise<void> {
    await this.db.raw(
      `with a as (
         insert into approvals (mission_id, seq, thought, tool, input, usage) values (:id, :seq, :thought, :tool, :input, :usage)
         on conflict (mission_id, seq) do nothing
       ), m as (
         update missions set status = 'waiting_approval' where id = :id and status = 'running' returning id
       ), e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_build_object('status', 'waiting_approval', 'step', :seq::int, 'tool', :tool::text, 'input', :input::jsonb)
         from m returning mission_id
       )
       select pg_notify(:channel, mission_id::text) from e`,
      {
        id: missionId,
        seq,
        thought: thought === null ? null : storableString(thought),
        tool: call.tool,
        input: storableJson(call.input),
        usage: usage ? JSON.stringify(usage) : null,
        channel: EVENTS_CHANNEL,
      },
    );
  }

  /**
   * Records a tenant's decision on the step its waiting mission asked about, and queues the mission again under a
   * new job number (the job that parked it may still be finishing); its deadline moves by the time it waited.
   * Returns what the caller enqueues at once (MissionSubmitter.requeue; the sweeper would do it otherwise), or
   * undefined when the mission is not waiting for approval.
   */
  async decide(tenantId: string, missionId: string, approved: boolean, reason: string | null): Promise<Enqueueable | undefined> {
    const { rows } = await this.db.raw(
      `with a as (
         update approvals set status = :status, reason = :reason, decided_at = now()
         where mission_id = :id and status = 'pending'
           and exists (select 1 from missions where id = :id and tenant_id = :tenant and status = 'waiting_approval')
         returning mission_id, created_at
       ), m as (
         update missions set status = 'queued', job_seq = job_seq + 1, enqueued_at = null,
           deadline_at = deadline_at + (now() - (select created_at from a))
         where id in (select mission_id from a) returning id, tenant_id, job_seq, goal, spec->'environment'->>'name' as environment
       ), e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_build_object('status', 'queued', 'approval', :status::text) from m returning mission_id
       ), n as (
         select pg_notify(:channel, mission_id::text) from e
       )
       select m.*, (select count(*) from n) as notified from m`,
      { id: missionId, tenant: tenantId, status: approved ? 'approved' : 'rejected', reason, channel: EVENTS_CHANNEL },
    );
    const row = rows[0] as (Enqueueable & { notified?: unknown }) | undefined;
    return row && { id: row.id, tenant_id: row.tenant_id, job_seq: row.job_seq, goal: row.goal, environment: row.environment };
  }
}

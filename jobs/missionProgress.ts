import type { Knex } from 'knex';
import { storableJson } from '../lib/text';
import type { Mission, MissionError, MissionStatus } from './mission';

/** Postgres channel that carries the id of every mission with a new event (see MissionEventHub). */
export const EVENTS_CHANNEL = 'mission_events';

/**
 * A mission's status changes as it runs. Each change is one statement that also appends the mission's event
 * and notifies listeners on commit, so the SSE stream can never miss or reorder a change. (Steps go through
 * the StepWriter, which does the same for many steps at once.)
 */
export class MissionProgress {
  constructor(private readonly db: Knex) {}

  /**
   * Moves a queued (or interrupted running) mission to running on this worker, as its job number `jobSeq`, in one
   * round trip. Its deadline starts at its first start. Returns the mission and the milliseconds left until its
   * deadline (by Postgres's clock), or undefined when there is no such open mission owned by that job.
   */
  async markRunning(id: string, jobSeq: number, workerId: string): Promise<{ mission: Mission; deadlineInMs: number | null } | undefined> {
    const { rows } = await this.db.raw(
      `with m as (
         update missions set status = 'running', started_at = coalesce(started_at, now()), worker_id = :worker,
           deadline_at = coalesce(deadline_at, now() + make_interval(secs => (spec->>'deadline_s')::float8))
         where id = :id and job_seq = :seq and status in ('queued', 'running') returning *
       ), e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_build_object('status', status, 'worker_id', worker_id) from m returning mission_id
       ), n as (
         select pg_notify(:channel, mission_id::text) from e
       )
       select m.*, extract(epoch from m.deadline_at - now()) * 1000 as deadline_in_ms, (select count(*) from n) as notified from m`,
      { id, seq: jobSeq, worker: workerId, channel: EVENTS_CHANNEL },
    );
    const row = rows[0] as (Mission & { notified?: unknown; deadline_in_ms: string | null }) | undefined;
    if (!row) return undefined;
    const { notified: _notified, deadline_in_ms: deadlineInMs, ...mission } = row;
    return { mission, deadlineInMs: deadlineInMs === null ? null : Number(deadlineInMs) };
  }

  /** Records the outcome of an open mission. A mission cancelled meanwhile stays cancelled. */
  async finish(id: string, outcome: { status: MissionStatus; result?: unknown; error?: MissionError }): Promise<void> {
    await this.db.raw(
      `with m as (
         update missions set status = :status, result = :result, error = :error, finished_at = now()
         where id = :id and status in ('queued', 'running') returning id
       ), e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_strip_nulls(jsonb_build_object('status', :status::text, 'result', :result::jsonb, 'error', :error::jsonb))
         from m returning mission_id
       )
       select pg_notify(:channel, mission_id::text) from e`,
      {
        id,
        status: outcome.status,
        // A model's answer can hold what Postgres cannot store: it is made storable (lib/text.ts).
        result: outcome.result === undefined ? null : storableJson(outcome.result),
        error: outcome.error ? storableJson(outcome.error) : null,
        channel: EVENTS_CHANNEL,
      },
    );
  }
}

import type { Knex } from 'knex';
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
   * Moves a queued (or interrupted running) mission to running on this worker and returns it, in one round
   * trip; undefined when there is no such mission or it has finished or been cancelled.
   */
  async markRunning(id: string, workerId: string): Promise<Mission | undefined> {
    const { rows } = await this.db.raw(
      `with m as (
         update missions set status = 'running', started_at = coalesce(started_at, now()), worker_id = :worker
         where id = :id and status in ('queued', 'running') returning *
       ), e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_build_object('status', status, 'worker_id', worker_id) from m returning mission_id
       ), n as (
         select pg_notify(:channel, mission_id::text) from e
       )
       select m.*, (select count(*) from n) as notified from m`,
      { id, worker: workerId, channel: EVENTS_CHANNEL },
    );
    const row = rows[0] as (Mission & { notified?: unknown }) | undefined;
    if (!row) return undefined;
    const { notified: _notified, ...mission } = row;
    return mission;
  }

  /** Records the outcome of a running mission. A mission cancelled meanwhile stays cancelled. */
  async finish(id: string, outcome: { status: MissionStatus; result?: unknown; error?: MissionError }): Promise<void> {
    await this.db.raw(
      `with m as (
         update missions set status = :status, result = :result, error = :error, finished_at = now()
         where id = :id and status = 'running' returning id
       ), e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_strip_nulls(jsonb_build_object('status', :status::text, 'result', :result::jsonb, 'error', :error::jsonb))
         from m returning mission_id
       )
       select pg_notify(:channel, mission_id::text) from e`,
      {
        id,
        status: outcome.status,
        result: outcome.result === undefined ? null : JSON.stringify(outcome.result),
        error: outcome.error ? JSON.stringify(outcome.error) : null,
        channel: EVENTS_CHANNEL,
      },
    );
  }
}

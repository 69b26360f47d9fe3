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
   * round trip. Its deadline starts at its first start; a worker other than the last is added to its history.
   * Returns the mission, the milliseconds left until its deadline (by Postgres's clock) and the worker it ran on
   * before, or undefined when there is no such open mission owned by that job.
   */
  async markRunning(
    id: string,
    jobSeq: number,
    workerId: string,
  ): Promise<{ mission: Mission; deadlineInMs: number | null; previousWorker: string | null } | undefined> {
    const { rows } = await this.db.raw(
      `with m as (
         update missions set status = 'running', started_at = coalesce(started_at, now()), worker_id = :worker,
           deadline_at = coalesce(deadline_at, now() + make_interval(secs => (spec->>'deadline_s')::float8)),
           workers = case when workers[cardinality(workers)] is distinct from :worker then workers || :worker::text else workers end
         where id = :id and job_seq = :seq and status in ('queued', 'running')
         returning *, (select worker_id from missions before where before.id = missions.id) as previous_worker
       ), e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_build_object('status', status, 'worker_id', worker_id) from m returning mission_id
       ), n as (
         select pg_notify(:channel, mission_id::text) from e
       )
       select m.*, extract(epoch from m.deadline_at - now()) * 1000 as deadline_in_ms, (select count(*) from n) as notified from m`,
      { id, seq: jobSeq, worker: workerId, channel: EVENTS_CHANNEL },
    );
    const row = rows[0] as (Mission & { notified?: unknown; deadline_in_ms: string | null; previous_worker: string | null }) | undefined;
    if (!row) return undefined;
    const { notified: _notified, deadline_in_ms: deadlineInMs, previous_worker: previousWorker, ...mission } = row;
    return { mission, deadlineInMs: deadlineInMs === null ? null : Number(deadlineInMs), previousWorker };
  }

  /**
   * Claims step `seq` before it starts: only while the mission is running, stamped by Postgres's clock. Undefined
   * when the mission is no longer running (cancelled, or ended by another run): the step must not start.
   */
  async claimStep(id: string, seq: number): Promise<Date | undefined> {
    const { rows } = await this.db.raw(
      `update missions set step_claimed = :seq where id = :id and status = 'running' returning clock_timestamp() as started_at`,
      { id, seq },
    );
    return (rows[0] as { started_at: Date } | undefined)?.started_at;
  }

  /**
   * Announces the end of a mission cancelled while one of its steps was in flight, once that step is recorded
   * (MissionStore.cancel leaves it to the worker then). Does nothing when it was announced already.
   */
  async announceCancelled(id: string): Promise<void> {
    await this.db.raw(
      `with e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_build_object('status', 'cancelled') from missions m
         where id = :id and status = 'cancelled'
           and not exists (select 1 from mission_events where mission_id = m.id and type = 'status' and data->>'status' = 'cancelled')
         returning mission_id
       )
       select pg_notify(:channel, mission_id::text) from e`,
      { id, channel: EVENTS_CHANNEL },
    );
  }

  /** Gives a running mission back to the queue (its worker is shutting down); another worker takes it on. */
  async handBack(id: string, jobSeq: number, workerId: string): Promise<void> {
    await this.db.raw(
      `with m as (
         update missions set status = 'queued' where id = :id and job_seq = :seq and status = 'running' returning id
       ), e as (
         insert into mission_events (mission_id, type, data)
         select id, 'status', jsonb_build_object('status', 'queued', 'handed_back_by', :worker::text) from m returning mission_id
       )
       select pg_notify(:channel, mission_id::text) from e`,
      { id, seq: jobSeq, worker: workerId, channel: EVENTS_CHANNEL },
    );
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

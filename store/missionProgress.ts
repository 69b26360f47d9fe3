import type { Score } from '../scoring/score';
import type { Knex } from 'knex';
import { GroupCommit } from '../lib/groupCommit';
import { storableJson } from '../lib/text';
import { isInfrastructureFault } from '../jobs/faults';
import { stepView, type Mission, type MissionError, type MissionStatus, type Step } from '../jobs/mission';
import { addToMissionTotals, usageIncrements } from './usageSql';

/** Postgres channel that carries the id of every mission with a new event (see MissionEventHub). */
export const EVENTS_CHANNEL = 'mission_events';

// Every statement below changes many missions at once (a group of callers), appends their events and notifies
// the listeners when it commits, so the SSE stream can never miss or reorder a change.

const START = `
  with input as (select * from jsonb_to_recordset(:rows::jsonb) as r(id uuid, seq int, worker text)),
  before as (select missions.id, missions.worker_id as previous_worker from missions join input on missions.id = input.id),
  m as (
    update missions set status = 'running', started_at = coalesce(started_at, now()), worker_id = input.worker,
      deadline_at = coalesce(deadline_at, now() + make_interval(secs => (spec->>'deadline_s')::float8)),
      workers = case when workers[cardinality(workers)] is distinct from input.worker then workers || input.worker else workers end,
      waiting_for = null
    from input where missions.id = input.id and missions.job_seq = input.seq and missions.status in ('queued', 'running')
      and not exists (select 1 from batches b where b.id = missions.batch_id and b.cancel_requested_at is not null)
    returning missions.*
  ), e as (
    insert into mission_events (mission_id, type, data)
    select id, 'status', jsonb_build_object('status', status, 'worker_id', worker_id) from m returning mission_id
  ), n as (
    select pg_notify(:channel, mission_id::text) from (select distinct mission_id from e) notified
  )
  select m.*, before.previous_worker, extract(epoch from m.deadline_at - now()) * 1000 as deadline_in_ms,
    b.token_limit as batch_token_limit, (select count(*) from n) as notified
  from m join before on before.id = m.id left join batches b on b.id = m.batch_id`;

// A step of a batch's mission is claimed only while the batch is not cancelled, holding the batch's row in share
// mode so that a batch cancel (BatchStore.cancel), which takes it exclusively, falls after every claim it let go.
const CLAIM = `
  with input as (select * from jsonb_to_recordset(:rows::jsonb) as r(id uuid, seq int)),
  live as (
    select id from batches where cancel_requested_at is null
      and id in (select batch_id from missions where id in (select id from input) and batch_id is not null)
    for share
  )
  update missions set step_claimed = input.seq from input
  where missions.id = input.id and missions.status = 'running' and (missions.batch_id is null or missions.batch_id in (select id from live))
  returning missions.id, clock_timestamp() as started_at`;

// The outcome, and the finish step when the policy decided to finish (with its model call's usage); its event
// comes before the status event.
const FINISH = `
  with input as (
    select *, ${Object.entries(usageIncrements("step->'usage'")).map(([column, sql]) => `${sql} as ${column}`).join(', ')}
    from jsonb_to_recordset(:rows::jsonb) as r(id uuid, status text, result jsonb, error jsonb, step jsonb, view jsonb, score jsonb)
  ), m as (
    update missions set status = input.status, result = input.result, error = input.error, score = input.score, finished_at = now(),
      step_count = coalesce((input.step->>'seq')::int, step_count), ${addToMissionTotals('input')}
    from input where missions.id = input.id and missions.status in ('queued', 'running')
    returning missions.id
  ), s as (
    insert into steps (mission_id, seq, thought, tool, input, observation, exit_code, error, started_at, finished_at, usage)
    select step.mission_id, step.seq, step.thought, step.tool, step.input, step.observation, step.exit_code, step.error, step.started_at, step.finished_at, step.usage
    from input, jsonb_populate_record(null::steps, input.step) step
    where input.step is not null and input.id in (select id from m)
  ), e as (
    insert into mission_events (mission_id, type, data)
    select id, type, data from (
      select id, 1 as k, 'step' as type, view as data from input where step is not null and id in (select id from m)
      union all
      select id, 2, 'status', jsonb_strip_nulls(jsonb_build_object('status', status, 'result', result, 'error', error))
      from input where id in (select id from m)
    ) events order by id, k
    returning mission_id
  )
  select pg_notify(:channel, mission_id::text) from (select distinct mission_id from e) notified`;

export interface Started {
  mission: Mission;
  /** Milliseconds left until the mission's deadline, by Postgres's clock; null without one. */
  deadlineInMs: number | null;
  /** The worker the mission ran on before, if any. */
  previousWorker: string | null;
  /** The token limit of the mission's batch, if it has one. */
  batchTokenLimit: number | null;
}

export interface Outcome {
  status: MissionStatus;
  result?: unknown;
  error?: MissionError;
  /** The finish step, recorded with the outcome when the policy decided to finish. */
  finalStep?: Step;
  /** What the mission's scorer made of it (scoring/). */
  score?: Score;
}

type StartRow = Mission & { previous_worker: string | null; deadline_in_ms: string | null; batch_token_limit: string | null; notified?: unknown };

/**
 * A mission's status as it runs. Starts, step claims and outcomes of the missions a worker runs at once are
 * group-committed: one statement for every mission that starts (or claims a step, or ends) together, each caller
 * answered when its row is committed. (Steps go through the StepWriter, which does the same.)
 */
export class MissionProgress {
  private readonly starts: GroupCommit<{ id: string; seq: number; worker: string }, Started | undefined>;
  private readonly claims: GroupCommit<{ id: string; seq: number }, Date | undefined>;
  private readonly finishes: GroupCommit<{ id: string; outcome: Outcome }, void>;

  constructor(private readonly db: Knex) {
    const retryAlone = (error: unknown) => !isInfrastructureFault(error);
    this.starts = new GroupCommit(async (requests) => {
      const { rows } = await db.raw(START, { rows: JSON.stringify(requests), channel: EVENTS_CHANNEL });
      const started = new Map((rows as StartRow[]).map((row) => [row.id, row]));
      return requests.map(({ id }) => {
        const row = started.get(id);
        if (!row) return undefined;
        const { previous_worker: previousWorker, deadline_in_ms: deadlineInMs, batch_token_limit: batchTokenLimit, notified: _notified, ...mission } = row;
        return {
          mission,
          deadlineInMs: deadlineInMs === null ? null : Number(deadlineInMs),
          previousWorker,
          batchTokenLimit: batchTokenLimit === null ? null : Number(batchTokenLimit),
        };
      });
    }, { retryAlone });
    this.claims = new GroupCommit(async (requests) => {
      const { rows } = await db.raw(CLAIM, { rows: JSON.stringify(requests) });
      const claimed = new Map((rows as { id: string; started_at: Date }[]).map((row) => [row.id, row.started_at]));
      return requests.map(({ id }) => claimed.get(id));
    }, { retryAlone });
    this.finishes = new GroupCommit(async (requests) => {
      const rows = requests.map(({ id, outcome }) => ({
        id,
        status: outcome.status,
        result: outcome.result ?? null,
        error: outcome.error ?? null,
        step: outcome.finalStep ?? null,
        view: outcome.finalStep ? stepView(outcome.finalStep) : null,
        score: outcome.score ?? null,
      }));
      // A model's answer can hold what Postgres cannot store: it is made storable (lib/text.ts).
      await db.raw(FINISH, { rows: storableJson(rows), channel: EVENTS_CHANNEL });
      return requests.map(() => undefined);
    }, { retryAlone });
  }

  /**
   * Moves a queued (or interrupted running) mission to running on this worker, as its job number `jobSeq`. Its
   * deadline starts at its first start; a worker other than the last is added to its history. Undefined when
   * there is no such open mission owned by that job, or its batch is being cancelled.
   */
  markRunning(id: string, jobSeq: number, workerId: string): Promise<Started | undefined> {
    return this.starts.add({ id, seq: jobSeq, worker: workerId });
  }

  /**
   * Claims step `seq` before it starts: only while the mission is running and its batch (if any) not cancelled,
   * stamped by Postgres's clock. Undefined otherwise (cancelled, ended by another run, its batch cancelled): the
   * step must not start.
   */
  claimStep(id: string, seq: number): Promise<Date | undefined> {
    return this.claims.add({ id, seq });
  }

  /**
   * Records the outcome of an open mission (and its finish step). A mission cancelled meanwhile stays cancelled;
   * a cancel is never recorded here (MissionStore.cancel and BatchStore.cancel record it, with its reason).
   */
  finish(id: string, outcome: Outcome): Promise<void> {
    return this.finishes.add({ id, outcome });
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
}

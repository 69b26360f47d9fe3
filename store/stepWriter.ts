import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import { GroupCommit } from '../lib/groupCommit';
import { storableJson } from '../lib/text';
import { isInfrastructureFault } from '../jobs/faults';
import { stepView, type Step } from '../jobs/mission';
import { EVENTS_CHANNEL } from './missionProgress';
import { addToMissionTotals, usageIncrements } from './usageSql';

interface StepWriterEvents {
  /** A group was committed: how many rows, and how long the statement took. */
  flushed: [rows: number, ms: number];
}

const COLUMNS = `mission_id uuid, seq int, thought text, tool text, input jsonb, observation jsonb, exit_code int,
  error text, started_at timestamptz, finished_at timestamptz, usage jsonb, setup boolean, view jsonb, bytes bigint`;

const increments = usageIncrements('usage');

// Steps, their missions' step counts and model usage, their events and the notification, for a whole group in
// one statement. Two groups are written at once; a count only grows, whichever of them commits last.
const INSERT_GROUP = `
  with input as (select * from jsonb_to_recordset(:rows::jsonb) as r(${COLUMNS})),
  s as (
    insert into steps (mission_id, seq, thought, tool, input, observation, exit_code, error, started_at, finished_at, usage, setup)
    select mission_id, seq, thought, tool, input, observation, exit_code, error, started_at, finished_at, usage, coalesce(setup, false) from input
  ),
  m as (
    update missions set step_count = greatest(missions.step_count, latest.seq), stored_bytes = missions.stored_bytes + latest.bytes,
      ${addToMissionTotals('latest')}
    from (
      select mission_id, max(seq) as seq, sum(bytes) as bytes, ${Object.entries(increments).map(([column, sql]) => `sum(${sql}) as ${column}`).join(', ')}
      from input group by mission_id
    ) latest
    where missions.id = latest.mission_id
    returning missions.id, missions.stored_bytes
  ),
  e as (
    insert into mission_events (mission_id, type, data)
    select mission_id, 'step', view from input order by mission_id, seq returning mission_id
  ),
  n as (select pg_notify(:channel, mission_id::text) from (select distinct mission_id from e) notified)
  select id, stored_bytes, (select count(*) from n) as notified from m`;

/**
 * Records steps with group commit: steps of many missions that finish together go to Postgres in one statement,
 * while the previous one is still running. A step's caller is answered only once its row is committed, so a
 * step is durable before the mission acts on it; and no step costs a round trip of its own under load. A row
 * Postgres refuses (a step another run recorded first) fails alone; the rest of its group is written.
 */
export class StepWriter extends EventEmitter<StepWriterEvents> {
  private readonly group: GroupCommit<Step, number>;

  constructor(db: Knex, maxGroup = 1_000) {
    super();
    this.group = new GroupCommit(
      async (steps: Step[]) => {
        // Tool output is text already (sandbox/channel.ts); a model's thought or input may still hold NUL or an
        // unpaired surrogate, which would fail the statement: storableJson replaces them. What a row stores (the
        // step and its event) is counted as the bytes of its JSON, added to its mission's stored_bytes, whose new
        // total each step is answered with.
        const rows = steps.map((step) => storableJson({ ...step, view: stepView(step) }));
        const withBytes = rows.map((row) => `${row.slice(0, -1)},"bytes":${Buffer.byteLength(row)}}`);
        const { rows: totals } = (await db.raw(INSERT_GROUP, { rows: `[${withBytes.join(',')}]`, channel: EVENTS_CHANNEL })) as { rows: { id: string; stored_bytes: string }[] };
        const storedBy = new Map(totals.map((total) => [total.id, Number(total.stored_bytes)]));
        return steps.map((step) => storedBy.get(step.mission_id) ?? 0);
      },
      { maxGroup, concurrency: 2, retryAlone: (error) => !isInfrastructureFault(error) },
    );
    this.group.on('committed', (rows, ms) => this.emit('flushed', rows, ms));
  }

  /** Resolves once the step is committed, with its mission's stored bytes then (its steps', recorded model calls'). */
  append(step: Step): Promise<number> {
    return this.group.add(step);
  }

  /** Resolves once every step appended so far is committed (or has failed). */
  flush(): Promise<void> {
    return this.group.flush();
  }
}

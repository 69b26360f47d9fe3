import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import { storableJson } from '../lib/text';
import { isInfrastructureFault } from './faults';
import { stepView, type Step } from './mission';
import { EVENTS_CHANNEL } from './missionProgress';

interface Pending {
  step: Step;
  resolve(): void;
  reject(error: Error): void;
}

interface StepWriterEvents {
  /** A group was committed: how many rows, and how long the statement took. */
  flushed: [rows: number, ms: number];
}

const COLUMNS = `mission_id uuid, seq int, thought text, tool text, input jsonb, observation jsonb, exit_code int,
  error text, started_at timestamptz, finished_at timestamptz, view jsonb`;

// Steps, their missions' step counts, their events and the notification, for a whole group in one statement.
const INSERT_GROUP = `
  with input as (select * from jsonb_to_recordset(:rows::jsonb) as r(${COLUMNS})),
  s as (
    insert into steps (mission_id, seq, thought, tool, input, observation, exit_code, error, started_at, finished_at)
    select mission_id, seq, thought, tool, input, observation, exit_code, error, started_at, finished_at from input
    returning mission_id, seq
  ),
  m as (
    update missions set step_count = latest.seq
    from (select mission_id, max(seq) as seq from s group by mission_id) latest where missions.id = latest.mission_id
  ),
  e as (
    insert into mission_events (mission_id, type, data)
    select mission_id, 'step', view from input order by mission_id, seq returning mission_id
  )
  select pg_notify(:channel, mission_id::text) from (select distinct mission_id from e) notified`;

/**
 * Records steps with group commit: steps of many missions that finish together go to Postgres in one statement,
 * while the previous one is still running. A step's caller is answered only once its row is committed, so a
 * step is durable before the mission acts on it; and no step costs a round trip of its own under load.
 */
export class StepWriter extends EventEmitter<StepWriterEvents> {
  private pending: Pending[] = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly db: Knex,
    private readonly maxGroup = 1_000,
  ) {
    super();
  }

  /** Resolves once the step is committed. */
  append(step: Step): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ step, resolve, reject });
      this.writing ??= this.writeAll();
    });
  }

  /** Resolves once every step appended so far is committed (or has failed). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeAll(): Promise<void> {
    // Let the steps of this turn of the event loop join the group.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const group = this.pending.splice(0, this.maxGroup);
      try {
        await this.write(group.map((entry) => entry.step));
        group.forEach((entry) => entry.resolve());
      } catch (error) {
        if (isInfrastructureFault(error)) {
          group.forEach((entry) => entry.reject(error as Error));
          continue;
        }
        // One bad row (a step another worker already recorded) must not fail the others: write them one by one.
        for (const entry of group) await this.write([entry.step]).then(entry.resolve, entry.reject);
      }
    }
    this.writing = undefined;
  }

  private async write(steps: readonly Step[]): Promise<void> {
    const started = performance.now();
    const rows = steps.map((step) => ({ ...step, view: stepView(step) }));
    // Tool output is text already (sandbox/channel.ts); a model's thought or input may still hold NUL or an
    // unpaired surrogate, which would fail the statement: storableJson replaces them.
    await this.db.raw(INSERT_GROUP, { rows: storableJson(rows), channel: EVENTS_CHANNEL });
    this.emit('flushed', steps.length, performance.now() - started);
  }
}

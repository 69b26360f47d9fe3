import type { Knex } from 'knex';
import { uuidv7 } from '../lib/ids';
import type { Mission, MissionError, MissionSpec, MissionStatus, Step } from './mission';

/** Mission rows in Postgres: the durable truth of every mission's state. */
export class MissionStore {
  constructor(private readonly db: Knex) {}

  /** Commits a new queued mission and returns it. */
  async create(spec: MissionSpec): Promise<Mission> {
    const [row] = await this.db<Mission>('missions')
      .insert({ id: uuidv7(), goal: spec.goal, spec: JSON.stringify(spec) as unknown as MissionSpec })
      .returning('*');
    return row!;
  }

  async get(id: string): Promise<Mission | undefined> {
    return this.db<Mission>('missions').where({ id }).first();
  }

  async steps(missionId: string): Promise<Step[]> {
    return this.db<Step>('steps').where({ mission_id: missionId }).orderBy('seq');
  }

  /** Moves a queued (or interrupted running) mission to running; false when it is already finished. */
  async markRunning(id: string): Promise<boolean> {
    const updated = await this.db('missions')
      .where({ id })
      .whereIn('status', ['queued', 'running'])
      .update({ status: 'running', started_at: this.db.raw('coalesce(started_at, now())') });
    return updated === 1;
  }

  /** Records a finished step and counts it on the mission, in one transaction. */
  async appendStep(step: Step): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('steps').insert({ ...step, input: JSON.stringify(step.input), observation: JSON.stringify(step.observation) });
      await trx('missions').where({ id: step.mission_id }).update({ step_count: step.seq });
    });
  }

  async finish(id: string, outcome: { status: MissionStatus; result?: unknown; error?: MissionError }): Promise<void> {
    await this.db('missions')
      .where({ id })
      .update({
        status: outcome.status,
        result: outcome.result === undefined ? null : JSON.stringify(outcome.result),
        error: outcome.error ? JSON.stringify(outcome.error) : null,
        finished_at: this.db.fn.now(),
      });
  }
}

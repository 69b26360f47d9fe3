import type { Knex } from 'knex';

// What became of a chaos run's missions, read from Postgres (test/chaosRun.ts, fleet/chaos.ts).

export interface MissionOutcomes {
  by_status: Record<string, number>;
  /** Still queued or running once the run is over. */
  stranded: number;
  steps_recorded_twice: number;
  /** Missions without exactly `steps` steps, numbered from 1. */
  missions_with_wrong_steps: number;
}

export async function missionOutcomes(db: Knex, steps: number): Promise<MissionOutcomes> {
  const rows = (await db('missions').groupBy('status').select('status').count({ n: '*' })) as { status: string; n: string }[];
  const byStatus = Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
  return {
    by_status: byStatus,
    stranded: (byStatus.queued ?? 0) + (byStatus.running ?? 0),
    steps_recorded_twice: await countRows(db, 'select mission_id, seq from steps group by 1, 2 having count(*) > 1'),
    missions_with_wrong_steps: await countRows(
      db,
      `select m.id from missions m left join steps s on s.mission_id = m.id group by m.id
       having count(s.seq) <> ${steps} or coalesce(min(s.seq), 0) <> 1 or coalesce(max(s.seq), 0) <> ${steps}`,
    ),
  };
}

/** The rows `sql` returns, counted. */
export async function countRows(db: Knex, sql: string): Promise<number> {
  return Number((await db.raw(`select count(*) as n from (${sql}) counted`)).rows[0].n);
}

/** Milliseconds from `since` to the first step that started after it; null when none did. */
export async function firstStepAfter(db: Knex, since: Date): Promise<number | null> {
  const { first } = (await db('steps').where('started_at', '>=', since).min({ first: 'started_at' }).first()) as { first: Date | null };
  return first ? first.getTime() - since.getTime() : null;
}

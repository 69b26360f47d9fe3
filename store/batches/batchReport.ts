import type { Knex } from 'knex';
import type { MissionStatus } from '../../jobs/mission';

/** A mission as the batch page lists it. */
export interface BatchMissionRow {
  id: string;
  custom_id: string | null;
  goal: string;
  status: MissionStatus;
  duration_ms: number | null;
  tokens: number;
  cost_usd: number | null;
}

export interface BatchReport {
  /** Durations of the latest attempts that ran, in equal bins from `from_ms` to `to_ms`. */
  durations: { from_ms: number; to_ms: number; counts: number[] } | null;
  /** Errors of the latest attempts by code, most frequent first, with a few missions of each. */
  errors: { code: string; count: number; missions: BatchMissionRow[] }[];
  slowest: BatchMissionRow[];
  costliest: BatchMissionRow[];
  /** Items by their mean score in tenths (the last bin holds 0.9 to 1), and missions whose scorer errored. */
  scores: { bins: number[]; errored: (BatchMissionRow & { score_error: string })[] } | null;
}

const SCORE_BINS = 10;

const BINS = 20;
const SHOWN = 10;
const ROW = `id, custom_id, left(goal, 300) as goal, status,
  (extract(epoch from finished_at - started_at) * 1000)::int as duration_ms,
  (input_tokens + output_tokens)::float8 as tokens,
  case when unpriced_tokens > 0 then null else cost_usd::float8 end as cost_usd`;
const LATEST = 'batch_id = :id and superseded_by is null';

/** What the batch page shows beyond the batch's counts: four queries, whatever the batch's size. */
export async function batchReport(db: Knex, batchId: string): Promise<BatchReport> {
  const query = async <T>(sql: string) => ((await db.raw(sql, { id: batchId, bins: BINS, shown: SHOWN })) as { rows: T[] }).rows;
  const [bins, errors, slowest, costliest, scoreBins, scoreErrors] = await Promise.all([
    query<{ bin: number; count: string; lo: number; hi: number }>(`
      with d as (select extract(epoch from finished_at - started_at) * 1000 as ms from missions
                 where ${LATEST} and started_at is not null and finished_at is not null),
           r as (select min(ms) as lo, max(ms) as hi from d)
      select least(width_bucket(ms, lo, greatest(hi, lo + 1), :bins), :bins) as bin, count(*) as count, lo::float8 as lo, greatest(hi, lo + 1)::float8 as hi
      from d, r group by 1, 3, 4 order by 1`),
    query<{ code: string; count: string; missions: BatchMissionRow[] }>(`
      select code, count(*) as count, (array_agg(row order by row->>'id'))[1:${SHOWN}] as missions from (
        select error->>'code' as code, jsonb_build_object('id', id, 'custom_id', custom_id, 'goal', left(goal, 300), 'status', status,
          'duration_ms', (extract(epoch from finished_at - started_at) * 1000)::int, 'tokens', input_tokens + output_tokens,
          'cost_usd', case when unpriced_tokens > 0 then null else cost_usd end) as row
        from missions where ${LATEST} and error is not null) e
      group by code order by count(*) desc, code limit 50`),
    query<BatchMissionRow>(`select ${ROW} from missions where ${LATEST} and finished_at is not null and started_at is not null
      order by finished_at - started_at desc limit :shown`),
    query<BatchMissionRow>(`select ${ROW} from missions where ${LATEST} and input_tokens + output_tokens > 0
      order by cost_usd desc, input_tokens + output_tokens desc limit :shown`),
    query<{ bin: number; count: string }>(`
      with items as (select item, avg((score->>'value')::float8) as mean from missions
                     where ${LATEST} and score->>'value' is not null group by item)
      select least(floor(mean * ${SCORE_BINS})::int, ${SCORE_BINS - 1}) as bin, count(*) as count from items group by 1`),
    query<BatchMissionRow & { score_error: string }>(`select ${ROW}, score->>'error' as score_error from missions
      where ${LATEST} and score->>'error' is not null order by item, epoch limit :shown`),
  ]);
  const scored = new Array<number>(SCORE_BINS).fill(0);
  for (const { bin, count } of scoreBins) scored[bin] = Number(count);
  const counts = new Array<number>(BINS).fill(0);
  for (const { bin, count } of bins) counts[bin - 1] = Number(count);
  return {
    durations: bins.length > 0 ? { from_ms: bins[0]!.lo, to_ms: bins[0]!.hi, counts } : null,
    errors: errors.map(({ code, count, missions }) => ({ code, count: Number(count), missions: missions.map((row) => ({ ...row, tokens: Number(row.tokens), cost_usd: row.cost_usd === null ? null : Number(row.cost_usd) })) })),
    slowest,
    costliest,
    scores: scoreBins.length + scoreErrors.length > 0 ? { bins: scored, errored: scoreErrors } : null,
  };
}

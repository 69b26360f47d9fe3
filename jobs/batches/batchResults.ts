import type { Knex } from 'knex';
import { missionUsage, type Mission, type MissionStatus } from '../mission';

export interface ResultsFilter {
  /** Only items whose (shown) attempt has one of these statuses. */
  statuses?: readonly MissionStatus[];
  /** Every attempt of each item, not only its latest. */
  allAttempts: boolean;
}

const PAGE = 1_000;
const COLUMNS = [
  'id', 'item', 'custom_id', 'attempt', 'retry_of', 'status', 'result', 'error', 'input_tokens', 'output_tokens', 'cost_usd',
  'unpriced_tokens', 'started_at', 'finished_at',
] as const;
export type ResultRow = Pick<Mission, (typeof COLUMNS)[number]>;

/** One line of a batch's results file. */
export function resultLine(row: ResultRow) {
  return {
    custom_id: row.custom_id,
    mission_id: row.id,
    item: row.item,
    attempt: row.attempt,
    retry_of: row.retry_of,
    status: row.status,
    result: row.result,
    error: row.error,
    usage: missionUsage(row),
    started_at: row.started_at?.toISOString() ?? null,
    finished_at: row.finished_at?.toISOString() ?? null,
    duration_ms: row.started_at && row.finished_at ? row.finished_at.getTime() - row.started_at.getTime() : null,
  };
}

/**
 * A batch's results in submission order (item, then attempt), a page of rows at a time by keyset over the
 * batch's item index: memory stays the same however large the batch, and open items show as they are now.
 */
export async function* batchResults(db: Knex, batchId: string, filter: ResultsFilter): AsyncGenerator<ResultRow[]> {
  let after: [number, number] = [-1, 0];
  for (;;) {
    const query = db('missions').where({ batch_id: batchId }).whereRaw('(item, attempt) > (?, ?)', after);
    if (!filter.allAttempts) query.whereNull('superseded_by');
    if (filter.statuses) query.whereIn('status', filter.statuses);
    const page = (await query.orderBy([{ column: 'item' }, { column: 'attempt' }]).limit(PAGE).select(COLUMNS)) as ResultRow[];
    if (page.length > 0) yield page;
    if (page.length < PAGE) return;
    const last = page.at(-1)!;
    after = [last.item!, last.attempt];
  }
}

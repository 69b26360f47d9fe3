import type { Knex } from 'knex';
import type { MissionStatus } from '../../jobs/mission';

export interface ResultsFilter {
  /** Only items whose (shown) attempt has one of these statuses. */
  statuses?: readonly MissionStatus[];
  /** Every attempt of each item, not only its latest. */
  allAttempts: boolean;
}

/** One line of a batch's results file (JSON text), and where it stands in the file. */
export interface ResultRow {
  item: number;
  epoch: number;
  attempt: number;
  line: string;
}

// Rows per query: small, so a page of large results is garbage soon after it is written.
const PAGE = 100;
const epochMs = (column: string) => `floor(extract(epoch from ${column}) * 1000)`;

// Postgres writes each line itself, compact and in this order: the API passes text through and builds no object
// per item. Times and durations read as the rest of the API shows them (ISO 8601 in UTC, whole milliseconds).
const LINE = `(
  select row_to_json(line)::text from (
    select custom_id, id as mission_id, item, epoch, attempt, retry_of, status, result, error, score, spec->'llm' as llm,
      (select row_to_json(usage) from (
        select input_tokens, output_tokens, case when unpriced_tokens > 0 then null else cost_usd::float8 end as cost_usd
      ) usage) as usage,
      case when artifacts is null then null else (
        select coalesce(json_agg(json_build_object('path', a.path, 'bytes', a.bytes, 'sha256', a.sha256) order by a.path), '[]')
        from artifacts a where a.mission_id = missions.id
      ) end as artifacts,
      iso_utc(started_at) as started_at, iso_utc(finished_at) as finished_at,
      (${epochMs('finished_at')} - ${epochMs('started_at')})::bigint as duration_ms
  ) line
) as line`;

/**
 * A batch's results in submission order (item, then epoch, then attempt), a page of lines at a time by keyset over the
 * batch's item index: memory stays the same however large the batch, and open items show as they are now.
 */
export async function* batchResults(db: Knex, batchId: string, filter: ResultsFilter): AsyncGenerator<ResultRow[]> {
  let after: [number, number, number] = [-1, 0, 0];
  for (;;) {
    const query = db('missions').where({ batch_id: batchId }).whereRaw('(item, epoch, attempt) > (?, ?, ?)', after);
    if (!filter.allAttempts) query.whereNull('superseded_by');
    if (filter.statuses) query.whereIn('status', filter.statuses);
    const page = (await query.orderBy(['item', 'epoch', 'attempt']).limit(PAGE).select('item', 'epoch', 'attempt', db.raw(LINE))) as ResultRow[];
    if (page.length > 0) yield page;
    if (page.length < PAGE) return;
    const last = page.at(-1)!;
    after = [last.item, last.epoch, last.attempt];
  }
}

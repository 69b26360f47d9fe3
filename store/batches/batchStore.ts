import { scoreStatistics, type ScoreStatistics } from '../../scoring/metrics';
import type { Score } from '../../scoring/score';
import type { Knex } from 'knex';
import { uuidv7 } from '../../lib/ids';
import { GroupCommit } from '../../lib/groupCommit';
import { isInfrastructureFault } from '../../jobs/faults';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancelStatement } from '../cancelMissions';
import { compareBatches, type Comparison } from './batchCompare';
import { batchReport, type BatchReport } from './batchReport';
import { batchResults, type ResultRow, type ResultsFilter } from './batchResults';
import { retryItems, type Admit, type RetryFilter } from './batchRetry';
import { MISSION_STATUSES, STOPPING_GRACE_MS, missionUsage, UNFINISHED_STATUSES, type Mission, type MissionError, type MissionSpec, type MissionStatus } from '../../jobs/mission';
import type { MissionStore } from '../missionStore';

export type BatchStatus = 'in_progress' | 'cancelling' | 'ended';

export interface Batch {
  id: string;
  tenant_id: string;
  submitted: number;
  accepted: number;
  created_at: Date;
  ended_at: Date | null;
  cancel_requested_at: Date | null;
  token_limit: string | null;
  tokens_used: string;
  /** How many times each item runs, as that many missions (epoch 1..epochs). */
  epochs: number;
}

/** What a batch may carry beside its missions. */
export interface BatchOptions {
  tokenLimit?: number;
  epochs?: number;
}

/** A batch as its owner sees it: lifecycle, its items' latest attempts by status, usage, durations. */
export interface BatchSummary extends Batch {
  status: BatchStatus;
  counts: Record<MissionStatus, number>;
  /** Items, and missions in all (an item of 3 epochs, one of them retried twice, is five missions). */
  items: number;
  attempts: number;
  /** Every attempt's model calls; cost is null while any of them used a model without a price. */
  usage: { input_tokens: number; output_tokens: number; cost_usd: number | null };
  /** Grader models' calls (model scorers), apart from the agents': never counted against token limits. */
  grading_usage: { input_tokens: number; output_tokens: number; cost_usd: number | null };
  /** Of the latest attempts that ran to an end; null before any has. */
  duration_ms: { p50: number; p95: number } | null;
  /** The statistics of its items' scores; null when none was scored. */
  scores: ScoreStatistics | null;
}

export const batchStatus = (batch: Pick<Batch, 'ended_at' | 'cancel_requested_at'>): BatchStatus =>
  batch.ended_at ? 'ended' : batch.cancel_requested_at ? 'cancelling' : 'in_progress';

// A batch ends when none of its missions is unfinished or stopping (MissionStore.cancel): compare-and-set, so
// it ends once (and says so once) however many processes see it at the same moment.
const END = `
  update batches set ended_at = now()
  where id = any(:ids::uuid[]) and ended_at is null
    and not exists (select 1 from missions m where m.batch_id = batches.id and m.status = any(:unfinished))
    and not exists (
      select 1 from missions m where m.batch_id = batches.id and m.status = 'cancelled' and m.step_claimed > m.step_count
        and m.finished_at > now() - make_interval(secs => :grace)
    )
  returning id`;

// The batch's row is locked before the cancel is stamped, so the stamp falls after every step claim that went
// ahead (each holds the row in share mode until it commits: MissionProgress's CLAIM).
const MARK_CANCELLED = `
  with locked as (select id from batches where id = :id and ended_at is null for update)
  update batches set cancel_requested_at = coalesce(cancel_requested_at, clock_timestamp()),
    cancel_error = coalesce(cancel_error, :error::jsonb)
  where id in (select id from locked)
  returning cancel_error`;

// Missions cancelled per statement. Rows locked elsewhere are skipped rather than waited for (a statement that
// waited while holding others could deadlock with a worker's group statement), and taken on the next round.
const CANCEL_CHUNK = cancelStatement(
  'select id, status from missions where batch_id = :batch and status = any(:unfinished) order by id limit 1000 for update skip locked',
);
const CANCEL_RETRY_MS = 20;
/** How long a cancel keeps coming back for missions held elsewhere; those left end on their own. */
const CANCEL_PATIENCE_MS = 10_000;

/** Batches and their items in Postgres. */
export class BatchStore {
  private readonly settling: GroupCommit<string, void>;

  constructor(
    private readonly db: Knex,
    private readonly missions: MissionStore,
  ) {
    // Missions of many batches end at once: one statement settles all their batches.
    this.settling = new GroupCommit(async (ids) => (await this.end([...new Set(ids)]), ids.map(() => undefined)), {
      retryAlone: (error) => !isInfrastructureFault(error),
    });
  }

  /** Commits a batch and its missions together, each item at its position, once per epoch (item-major). */
  async create(tenantId: string, specs: readonly MissionSpec[], submitted: number, { tokenLimit, epochs = 1 }: BatchOptions = {}): Promise<{ batchId: string; missions: Mission[] }> {
    const batchId = uuidv7();
    const runs = specs.flatMap((spec, item) => Array.from({ length: epochs }, (_, at) => ({ tenant_id: tenantId, spec, batch_id: batchId, item, epoch: at + 1 })));
    return this.db.transaction(async (trx) => {
      await trx('batches').insert({ id: batchId, tenant_id: tenantId, submitted, accepted: specs.length, token_limit: tokenLimit ?? null, epochs });
      return { batchId, missions: await this.missions.create(runs, trx) };
    });
  }

  /** A tenant's batch, or undefined when it does not exist or is another tenant's. */
  async find(tenantId: string, id: string): Promise<Batch | undefined> {
    return this.db<Batch>('batches').where({ id, tenant_id: tenantId }).first();
  }

  /** Which tenant a batch belongs to (for the admin, who may look at any). */
  async ownerOf(id: string): Promise<string | undefined> {
    return (await this.db('batches').where({ id }).first('tenant_id'))?.tenant_id;
  }

  /** A tenant's batch with its counts, usage and durations, in three queries whatever its size. */
  async summary(tenantId: string, id: string): Promise<BatchSummary | undefined> {
    let batch = await this.find(tenantId, id);
    if (!batch) return undefined;
    const rows: { status: MissionStatus; count: string }[] = await this.db('missions')
      .where({ batch_id: id })
      .whereNull('superseded_by')
      .groupBy('status')
      .select('status')
      .count({ count: '*' });
    const counts = Object.fromEntries(MISSION_STATUSES.map((status) => [status, 0])) as Record<MissionStatus, number>;
    for (const row of rows) counts[row.status] = Number(row.count);
    // Seen ended before anything else noticed: it ends now, so a poller never waits for the sweeper.
    if (!batch.ended_at && UNFINISHED_STATUSES.every((status) => counts[status] === 0) && (await this.end([id])).length > 0) {
      batch = (await this.find(tenantId, id))!;
    }
    const { rows: [totals] } = await this.db.raw(
      `select count(*) as attempts, sum(input_tokens) as input_tokens, sum(output_tokens) as output_tokens, sum(cost_usd) as cost_usd,
         sum(unpriced_tokens) as unpriced_tokens,
         coalesce(sum((score->'usage'->>'input_tokens')::bigint), 0)::float8 as grading_input,
         coalesce(sum((score->'usage'->>'output_tokens')::bigint), 0)::float8 as grading_output,
         coalesce(sum((score->'usage'->>'cost_usd')::float8), 0) as grading_cost,
         count(*) filter (where score->'usage' is not null and score->'usage'->>'cost_usd' is null) as grading_unpriced,
         percentile_cont(array[0.5, 0.95]) within group (order by extract(epoch from finished_at - started_at) * 1000)
           filter (where superseded_by is null and started_at is not null and finished_at is not null) as durations
       from missions where batch_id = :id`,
      { id },
    );
    const { attempts, input_tokens, output_tokens, cost_usd, unpriced_tokens, durations, ...grading } = totals as Record<string, string | null> & { durations: number[] | null };
    const scored = (await this.db('missions').where({ batch_id: id }).whereNull('superseded_by').whereNotNull('score').select('item', 'score')) as { item: number; score: Score }[];
    const byItem = new Map<number, Score[]>();
    for (const { item, score } of scored) byItem.set(item, [...(byItem.get(item) ?? []), score]);
    return {
      ...batch,
      status: batchStatus(batch),
      counts,
      items: Object.values(counts).reduce((sum, count) => sum + count, 0) / batch.epochs,
      attempts: Number(attempts),
      usage: missionUsage({ input_tokens: input_tokens ?? '0', output_tokens: output_tokens ?? '0', cost_usd: cost_usd ?? '0', unpriced_tokens: unpriced_tokens ?? '0' }),
      grading_usage: {
        input_tokens: Number(grading.grading_input),
        output_tokens: Number(grading.grading_output),
        cost_usd: Number(grading.grading_unpriced) > 0 ? null : Number(grading.grading_cost),
      },
      duration_ms: durations ? { p50: Math.round(durations[0]!), p95: Math.round(durations[1]!) } : null,
      scores: scoreStatistics(byItem),
    };
  }

  /**
   * Cancels a batch: it is `cancelling` from now until its last mission has stopped, and each unfinished mission
   * is cancelled as a single cancel would, with `error`. Returns the missions that were running (their workers
   * are to be told), or 'ended' when the batch had ended already.
   */
  async cancel(id: string, error: MissionError): Promise<{ running: string[] } | 'ended'> {
    // From this commit on, no mission of the batch starts or claims a step (MissionProgress): the cancel is
    // durable, and the sweeper finishes it should this process die in the middle. The first cancel's reason stays.
    const { rows: marked } = await this.db.raw(MARK_CANCELLED, { id, error: JSON.stringify(error) });
    if (marked.length === 0) return 'ended';
    const reason = JSON.stringify(marked[0].cancel_error);
    const running: string[] = [];
    const patience = Date.now() + CANCEL_PATIENCE_MS;
    for (;;) {
      const { rows } = await this.db.raw(CANCEL_CHUNK, { batch: id, unfinished: [...UNFINISHED_STATUSES], error: reason });
      for (const row of rows as { id: string; was: MissionStatus }[]) if (row.was === 'running') running.push(row.id);
      if (rows.length > 0) continue;
      // Missions another statement holds at this moment (a worker recording a step) were skipped: once more.
      const left = await this.db('missions').where({ batch_id: id }).whereIn('status', UNFINISHED_STATUSES).first('id');
      if (!left || Date.now() > patience) break;
      await sleep(CANCEL_RETRY_MS);
    }
    await this.end([id]);
    return { running };
  }

  /** The batch's results, a page of rows at a time (batchResults). */
  results(id: string, filter: ResultsFilter): AsyncGenerator<ResultRow[]> {
    return batchResults(this.db, id, filter);
  }

  /** A new attempt of each item whose latest attempt matches (retryItems); the new missions, to enqueue. */
  retry(id: string, filter: RetryFilter, admit: Admit): Promise<Mission[]> {
    return retryItems(this.db, this.missions, id, filter, admit);
  }

  /** Durations, errors by code, slowest and costliest missions of a batch (batchReport). */
  report(id: string): Promise<BatchReport> {
    return batchReport(this.db, id);
  }

  /** How each item changed from batch `thereId` to batch `hereId`, and the suite beyond its noise (compareBatches). */
  compare(hereId: string, thereId: string, alpha: number): Promise<Comparison> {
    return compareBatches(this.db, hereId, thereId, alpha);
  }

  /** Ends each of these batches that has nothing left unfinished or stopping; returns those it ended. */
  async end(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.db.raw(END, { ids: [...ids], unfinished: [...UNFINISHED_STATUSES], grace: STOPPING_GRACE_MS / 1000 });
    return rows.map((row: { id: string }) => row.id);
  }

  /**
   * Ends the batch if its last mission just ended; concurrent calls share one statement. A batch whose end is
   * missed here (a failure, two last missions ending at once) is ended by the next sweep.
   */
  settle(batchId: string): Promise<void> {
    return this.settling.add(batchId);
  }

  /** Batches being cancelled with missions still unfinished (their cancel was cut short): the sweeper finishes them. */
  async unfinishedCancels(limit: number): Promise<{ id: string; cancel_error: MissionError }[]> {
    return this.db('batches as b')
      .whereNull('b.ended_at')
      .whereNotNull('b.cancel_requested_at')
      .whereExists((query) => query.from('missions as m').whereRaw('m.batch_id = b.id').whereIn('m.status', UNFINISHED_STATUSES))
      .limit(limit)
      .select('b.id', 'b.cancel_error');
  }

  /** One page of the batches not yet ended, by id, after `afterId`: the sweeper ends those whose missions have. */
  async unended(afterId: string, limit: number): Promise<string[]> {
    return this.db('batches').whereNull('ended_at').where('id', '>', afterId).orderBy('id').limit(limit).pluck('id');
  }

  /**
   * Adds a model call's tokens to a batch's count against its token limit. True when this call took the batch
   * past its limit (exactly one call does).
   */
  async spend(batchId: string, tokens: number): Promise<boolean> {
    const { rows } = await this.db.raw(
      `update batches set tokens_used = tokens_used + :tokens where id = :id
       returning tokens_used > token_limit and tokens_used - :tokens <= token_limit as crossed`,
      { id: batchId, tokens },
    );
    return rows[0]?.crossed === true;
  }
}

import type { Knex } from 'knex';
import type { Approval } from '../store/approvals';
import { batchStatus, type Batch, type BatchStatus } from '../store/batches/batchStore';
import type { Mission, MissionStatus, Step } from '../jobs/mission';
import type { ArtifactEntry } from '../tasks/artifactStore';

/** Whose things a page shows: one tenant's, or (the admin) everyone's. */
export type Scope = { tenantId: string } | 'everyone';

export interface MissionListFilter {
  status?: MissionStatus;
  batchId?: string;
  /** Missions with ids in [from, to): ids are UUIDv7, so an id range is a time range on the primary key. */
  fromId?: string;
  toId?: string;
  limit: number;
}

/** A row of the missions list: what it shows and nothing more (no plan, no result). */
export interface MissionRow {
  id: string;
  tenant_id: string;
  batch_id: string | null;
  custom_id: string | null;
  status: MissionStatus;
  goal: string;
  step_count: number;
  created_at: Date;
  duration_ms: number | null;
  tokens: number;
  cost_usd: number | null;
}

/**
 * A mission with a page of its trace (up to TRACE_PAGE_STEPS steps from one seq on), and the last event already
 * in it: the page's live stream starts after that. A report may leave a mission's steps out (`stepsOmitted`).
 */
export interface MissionTrace {
  mission: Mission;
  steps: Step[];
  /** Where the page before this one starts, and where the one after it, when there are such steps. */
  earlierFrom: number | undefined;
  laterFrom: number | undefined;
  stepsOmitted?: boolean;
  lastEventId: string;
  pending: Approval | undefined;
  /** The files it kept (its artifacts), without their bytes. */
  artifacts: ArtifactEntry[];
}

/** Steps one trace page shows: with MISSION_STORED_MB bounding a mission's bytes, a page is bounded both ways. */
export const TRACE_PAGE_STEPS = 100;
/** Stored bytes of the traces one batch report carries, in item order; the missions after it are listed without their steps. */
export const REPORT_TRACE_BYTES = 64 * 1024 * 1024;

/** What a waterfall is drawn from. */
export interface Timeline {
  mission: Pick<Mission, 'created_at' | 'started_at' | 'finished_at'>;
  steps: Pick<Step, 'seq' | 'tool' | 'started_at' | 'finished_at' | 'exit_code' | 'error'>[];
}

const GOAL_SHOWN = 300;

/** The console's reads from Postgres. Each page costs a fixed number of queries, whatever it lists. */
export class ConsoleReader {
  constructor(private readonly db: Knex) {}

  async missions(scope: Scope, filter: MissionListFilter): Promise<MissionRow[]> {
    const query = this.db('missions').select(
      'id', 'tenant_id', 'batch_id', 'custom_id', 'status', this.db.raw('left(goal, ?) as goal', [GOAL_SHOWN]), 'step_count', 'created_at',
      this.db.raw('(extract(epoch from finished_at - started_at) * 1000)::int as duration_ms'),
      this.db.raw('(input_tokens + output_tokens)::float8 as tokens'),
      this.db.raw('case when unpriced_tokens > 0 then null else cost_usd::float8 end as cost_usd'),
    );
    if (scope !== 'everyone') query.where({ tenant_id: scope.tenantId });
    if (filter.status) query.where({ status: filter.status });
    if (filter.batchId) query.where({ batch_id: filter.batchId });
    if (filter.fromId) query.where('id', '>=', filter.fromId);
    if (filter.toId) query.where('id', '<', filter.toId);
    return query.orderBy('id', 'desc').limit(filter.limit);
  }

  /** One consistent snapshot: steps and their events commit together, so the stream after lastEventId repeats none. */
  async trace(scope: Scope, id: string, fromSeq = 0): Promise<MissionTrace | undefined> {
    return this.db.transaction(
      async (trx) => {
        const query = trx<Mission>('missions').where({ id });
        if (scope !== 'everyone') query.where({ tenant_id: scope.tenantId });
        const mission = await query.first();
        if (!mission) return undefined;
        // One after another: a transaction is one connection, which runs one query at a time.
        const steps = await trx<Step>('steps').where({ mission_id: id }).where('seq', '>=', fromSeq).orderBy('seq').limit(TRACE_PAGE_STEPS + 1);
        const laterFrom = steps.length > TRACE_PAGE_STEPS ? steps.pop()!.seq : undefined;
        const earlier = fromSeq > 0 ? await trx<Step>('steps').where({ mission_id: id }).where('seq', '<', fromSeq).orderBy('seq', 'desc').offset(TRACE_PAGE_STEPS - 1).first('seq') : undefined;
        const earlierFrom = fromSeq > 0 ? (earlier?.seq ?? 0) : undefined;
        const last = await trx('mission_events').where({ mission_id: id }).max('id as id').first();
        const pending = await trx<Approval>('approvals').where({ mission_id: id, status: 'pending' }).first();
        const artifacts = mission.artifacts ? await artifactsOf(trx, [id]) : [];
        return { mission, steps, earlierFrom, laterFrom, lastEventId: String(last?.id ?? 0), pending, artifacts };
      },
      { isolationLevel: 'repeatable read', readOnly: true },
    );
  }

  /** One step of a mission the scope may see. */
  async step(scope: Scope, id: string, seq: number): Promise<Step | undefined> {
    const query = this.db<Step>('steps').join('missions', 'missions.id', 'steps.mission_id').where({ 'steps.mission_id': id, 'steps.seq': seq });
    if (scope !== 'everyone') query.where({ 'missions.tenant_id': scope.tenantId });
    return query.first('steps.*');
  }

  /** A mission's times and its steps' (no inputs or outputs), for its waterfall. */
  async timeline(scope: Scope, id: string): Promise<Timeline | undefined> {
    const query = this.db('missions').where({ id });
    if (scope !== 'everyone') query.where({ tenant_id: scope.tenantId });
    const mission: Timeline['mission'] | undefined = await query.first('created_at', 'started_at', 'finished_at');
    if (!mission) return undefined;
    const steps: Timeline['steps'] = await this.db('steps').where({ mission_id: id }).orderBy('seq').select('seq', 'tool', 'started_at', 'finished_at', 'exit_code', 'error');
    return { mission, steps };
  }

  /** Batches, newest first, below id `before` when given. */
  async batches(scope: Scope, before: string | undefined, limit: number): Promise<(Batch & { status: BatchStatus })[]> {
    const query = this.db<Batch>('batches');
    if (scope !== 'everyone') query.where({ tenant_id: scope.tenantId });
    if (before) query.where('id', '<', before);
    const rows = await query.orderBy('id', 'desc').limit(limit);
    return rows.map((batch) => ({ ...batch, status: batchStatus(batch) }));
  }

  /**
   * Every latest attempt of a batch in item order, with the traces of as many as REPORT_TRACE_BYTES of stored
   * steps hold (each mission's own bytes are bounded by MISSION_STORED_MB): three queries, whatever the batch's size.
   */
  async batchTraces(batchId: string): Promise<MissionTrace[]> {
    const latest = (query: Knex.QueryBuilder) => query.where({ batch_id: batchId }).whereNull('superseded_by');
    const traced = this.db
      .select('id')
      .from(latest(this.db('missions')).select('id', this.db.raw('sum(stored_bytes) over (order by item, id) as total')).as('running'))
      .where('total', '<=', REPORT_TRACE_BYTES);
    const [missions, steps, pending] = await Promise.all([
      latest(this.db('missions')).orderBy('item').select('*') as Promise<Mission[]>,
      this.db<Step>('steps').whereIn('mission_id', traced).orderBy(['mission_id', 'seq']),
      this.db<Approval>('approvals').whereIn('mission_id', latest(this.db('missions')).select('id')).where({ status: 'pending' }),
    ]);
    // A fourth query only for a batch whose missions kept artifacts.
    const artifacts = missions.some((mission) => mission.artifacts) ? await artifactsOf(this.db, latest(this.db('missions')).select('id')) : [];
    const stepsOf = new Map<string, Step[]>();
    for (const step of steps) {
      const list = stepsOf.get(step.mission_id);
      if (list) list.push(step);
      else stepsOf.set(step.mission_id, [step]);
    }
    const pendingOf = new Map(pending.map((approval) => [approval.mission_id, approval]));
    const artifactsByMission = new Map<string, ArtifactEntry[]>();
    for (const { mission_id: missionId, ...artifact } of artifacts) artifactsByMission.set(missionId, [...(artifactsByMission.get(missionId) ?? []), artifact]);
    return missions.map((mission) => ({
      mission,
      steps: stepsOf.get(mission.id) ?? [],
      earlierFrom: undefined,
      laterFrom: undefined,
      stepsOmitted: mission.step_count > 0 && !stepsOf.has(mission.id),
      lastEventId: '0',
      pending: pendingOf.get(mission.id),
      artifacts: artifactsByMission.get(mission.id) ?? [],
    }));
  }

  /** The missions being run now, by worker (at most `limit`). */
  async running(limit: number): Promise<{ id: string; tenant_id: string; worker_id: string | null; status: MissionStatus; goal: string; step_count: number; started_at: Date | null }[]> {
    return this.db('missions')
      .where({ status: 'running' })
      .select('id', 'tenant_id', 'worker_id', 'status', this.db.raw('left(goal, 120) as goal'), 'step_count', 'started_at')
      .orderBy('id')
      .limit(limit);
  }

  /** Waits from enqueue to first start, of missions created in the last `minutes`: p50 and p95 in ms. */
  async pickupLatency(minutes: number): Promise<{ p50: number; p95: number; missions: number } | null> {
    const { rows } = await this.db.raw(
      `select count(*) as missions, percentile_cont(array[0.5, 0.95]) within group (order by extract(epoch from started_at - enqueued_at) * 1000) as ms
       from missions where created_at > now() - make_interval(mins => :minutes) and started_at is not null and enqueued_at is not null`,
      { minutes },
    );
    const row = rows[0] as { missions: string; ms: number[] | null };
    return row.ms ? { p50: Math.round(row.ms[0]!), p95: Math.round(row.ms[1]!), missions: Number(row.missions) } : null;
  }
}

/** The artifacts of these missions, without their bytes, in path order. */
async function artifactsOf(db: Knex, missionIds: readonly string[] | Knex.QueryBuilder): Promise<(ArtifactEntry & { mission_id: string })[]> {
  const rows = (await db('artifacts').whereIn('mission_id', missionIds as never).orderBy(['mission_id', 'path']).select('mission_id', 'path', 'bytes', 'sha256')) as (ArtifactEntry & { mission_id: string; bytes: string })[];
  return rows.map((row) => ({ ...row, bytes: Number(row.bytes) }));
}

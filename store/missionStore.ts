import type { Knex } from 'knex';
import { uuidv7 } from '../lib/ids';
import { JOB_NAME_CHARS } from '../lib/queue';
import { CANCELLED, cancelStatement } from './cancelMissions';
import { TERMINAL_STATUSES, UNFINISHED_STATUSES, type Mission, type MissionEvent, type MissionSpec, type MissionStatus, type Step } from '../jobs/mission';

/**
 * What enqueuing needs of a mission: the job number gives the job id; its goal names the job in Bull Board; its
 * environment (from its spec, or read as `environment`) goes with the job, for workers to see they can run it.
 */
export type Enqueueable = Pick<Mission, 'id' | 'tenant_id' | 'job_seq' | 'goal'> & { environment?: string | null; spec?: Pick<MissionSpec, 'environment'> };

/** The environment a mission's job carries, read from its spec as enqueuing needs it. */
const ENQUEUE_ENVIRONMENT = "spec->'environment'->>'name' as environment";

/** A mission in these states must always have a live job that will move it on. */
const OPEN_STATUSES = ['queued', 'running'];

/** Rows per INSERT statement: far below Postgres's 65,535 bind parameters, large enough to amortise the trip. */
const INSERT_CHUNK = 1_000;

export interface NewMission {
  tenant_id: string;
  spec: MissionSpec;
  batch_id?: string | null;
  /** Its position in its batch. */
  item?: number;
  /** Which run of its item (1 when not given). */
  epoch?: number;
  /** For a retry of a batch item: which attempt this is, and of which mission. */
  attempt?: number;
  retry_of?: string;
}

export interface ListFilter {
  status?: MissionStatus;
  batch_id?: string;
  /** Missions with an id below this one (ids are time-ordered, so: older ones). */
  before?: string;
  limit: number;
}

/** Mission rows in Postgres: the durable truth of every mission's state, read per tenant. */
export class MissionStore {
  /** As much of the goal as names a job. */
  private readonly jobName: Knex.Raw;

  constructor(private readonly db: Knex) {
    // One character more than a job name holds, so a longer goal still gets its ellipsis.
    this.jobName = db.raw('left(goal, ?) as goal', [JOB_NAME_CHARS + 1]);
  }

  /** Commits new queued missions, many rows per statement, in one transaction. Returns them in order. */
  async create(missions: readonly NewMission[], trx?: Knex.Transaction): Promise<Mission[]> {
    const createdAt = new Date();
    const rows: Mission[] = missions.map((mission) => ({
      id: uuidv7(createdAt.getTime()),
      tenant_id: mission.tenant_id,
      batch_id: mission.batch_id ?? null,
      item: mission.item ?? null,
      custom_id: mission.spec.custom_id ?? null,
      epoch: mission.epoch ?? 1,
      attempt: mission.attempt ?? 1,
      retry_of: mission.retry_of ?? null,
      superseded_by: null,
      input_tokens: '0',
      output_tokens: '0',
      cost_usd: '0',
      unpriced_tokens: '0',
      stored_bytes: '0',
      status: 'queued',
      goal: mission.spec.goal,
      spec: mission.spec,
      result: null,
      error: null,
      step_count: 0,
      created_at: createdAt,
      started_at: null,
      finished_at: null,
      enqueued_at: null,
      worker_id: null,
      job_seq: 0,
      deadline_at: null,
      step_claimed: 0,
      workers: [],
      artifacts: null,
      waiting_for: null,
      score: null,
    }));
    const insert = async (db: Knex | Knex.Transaction) => {
      for (let at = 0; at < rows.length; at += INSERT_CHUNK) {
        await db('missions').insert(
          rows.slice(at, at + INSERT_CHUNK).map(({ id, tenant_id, batch_id, item, custom_id, epoch, attempt, retry_of, goal, spec, created_at }) => ({
            id,
            tenant_id,
            batch_id,
            item,
            custom_id,
            epoch,
            attempt,
            retry_of,
            goal,
            spec: JSON.stringify(spec),
            created_at,
          })),
        );
      }
    };
    if (trx || rows.length <= INSERT_CHUNK) await insert(trx ?? this.db);
    else await this.db.transaction(insert);
    return rows;
  }

  /** Notes that these missions' current jobs are in BullMQ, so the sweeper leaves them alone. */
  async markEnqueued(missions: readonly Pick<Mission, 'id' | 'job_seq'>[]): Promise<void> {
    if (missions.length === 0) return;
    await this.db('missions')
      .whereIn(['id', 'job_seq'], missions.map(({ id, job_seq }) => [id, job_seq]))
      .update({ enqueued_at: this.db.fn.now() });
  }

  /**
   * Open missions whose current job never reached BullMQ (Redis was away, or the sweeper or an approval gave them
   * a new job), oldest first; only those older than `olderThanMs`, so a submission's own enqueue goes first.
   */
  async notEnqueued(olderThanMs: number, limit: number): Promise<Enqueueable[]> {
    return this.db('missions')
      .whereNull('enqueued_at')
      .whereIn('status', OPEN_STATUSES)
      .where('created_at', '<', new Date(Date.now() - olderThanMs))
      .orderBy('created_at')
      .limit(limit)
      .select('id', 'tenant_id', 'job_seq', this.jobName, this.db.raw(ENQUEUE_ENVIRONMENT));
  }

  /** One page of the open missions that are marked as enqueued, by id, after `afterId`. */
  async openEnqueued(afterId: string, limit: number): Promise<Enqueueable[]> {
    return this.db('missions')
      .whereIn('status', OPEN_STATUSES)
      .whereNotNull('enqueued_at')
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .select('id', 'tenant_id', 'job_seq', this.jobName, this.db.raw(ENQUEUE_ENVIRONMENT));
  }

  /**
   * Gives open missions whose job was lost a new job number (compare-and-set on the number they had, so of two
   * sweepers only one wins) and leaves them to be enqueued. Returns the missions it moved on.
   */
  async reassignJobs(missions: readonly Pick<Mission, 'id' | 'job_seq'>[]): Promise<Enqueueable[]> {
    if (missions.length === 0) return [];
    return this.db('missions')
      .whereIn(['id', 'job_seq'], missions.map(({ id, job_seq }) => [id, job_seq]))
      .whereIn('status', OPEN_STATUSES)
      .update({ job_seq: this.db.raw('job_seq + 1'), enqueued_at: null })
      .returning(['id', 'tenant_id', 'job_seq', 'goal', 'spec']);
  }

  /** Any tenant's mission: for the engine, which is given ids by the queue. */
  async get(id: string): Promise<Mission | undefined> {
    return this.db<Mission>('missions').where({ id }).first();
  }

  /** A tenant's mission, or undefined when it does not exist or is another tenant's. */
  async getForTenant(tenantId: string, id: string): Promise<Mission | undefined> {
    return this.db<Mission>('missions').where({ id, tenant_id: tenantId }).first();
  }

  /** Which of these ids are missions of the tenant. */
  async idsOf(tenantId: string, ids: readonly string[]): Promise<Set<string>> {
    const rows = await this.db('missions').where({ tenant_id: tenantId }).whereIn('id', ids).select('id');
    return new Set(rows.map((row: { id: string }) => row.id));
  }

  /** One page of a tenant's missions, newest first: one indexed query whatever the page size. */
  async list(tenantId: string, filter: ListFilter): Promise<Mission[]> {
    const query = this.db<Mission>('missions').where({ tenant_id: tenantId });
    if (filter.status) query.where({ status: filter.status });
    if (filter.batch_id) query.where({ batch_id: filter.batch_id });
    if (filter.before) query.where('id', '<', filter.before);
    return query.orderBy('id', 'desc').limit(filter.limit);
  }

  /** A mission's steps in order, after step `after`, at most `limit` of them. */
  /** What a tenant's missions store now: how many there are and the bytes of their steps and events. */
  async storageOf(tenantId: string): Promise<{ missions: number; stored_bytes: number }> {
    const [row] = (await this.db('missions').where({ tenant_id: tenantId }).select(this.db.raw('count(*) as missions, coalesce(sum(stored_bytes), 0) as stored_bytes'))) as {
      missions: string;
      stored_bytes: string;
    }[];
    return { missions: Number(row!.missions), stored_bytes: Number(row!.stored_bytes) };
  }

  /** Says on a queued mission why it is not running yet. */
  async noteWaiting(id: string, reason: string): Promise<void> {
    await this.db('missions').where({ id, status: 'queued' }).whereRaw('waiting_for is distinct from ?', [reason]).update({ waiting_for: reason });
  }

  async steps(missionId: string, after = 0, limit = 100_000): Promise<Step[]> {
    return this.db<Step>('steps').where({ mission_id: missionId }).where('seq', '>', after).orderBy('seq').limit(limit);
  }

  /** A mission's events after event `afterId`, in commit order. */
  async eventsAfter(missionId: string, afterId: string, limit: number): Promise<MissionEvent[]> {
    return this.db<MissionEvent>('mission_events')
      .where({ mission_id: missionId })
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit);
  }

  /**
   * Cancels a tenant's unfinished mission (see cancelStatement). Returns it as it is now and whether this call
   * cancelled it (false: it had finished, or another cancel came first), or undefined when there is no such mission.
   */
  async cancel(tenantId: string, id: string): Promise<{ mission: Mission; cancelled: boolean } | undefined> {
    const { rows } = await this.db.raw(
      cancelStatement('select id, status from missions where id = :id and tenant_id = :tenant and status = any(:unfinished) for update'),
      { id, tenant: tenantId, unfinished: [...UNFINISHED_STATUSES], error: JSON.stringify(CANCELLED) },
    );
    const mission = await this.getForTenant(tenantId, id);
    return mission && { mission, cancelled: rows.length === 1 };
  }

  /**
   * Where a mission's event stream stands: its status, and whether its end was announced (a terminal status
   * event exists); a cancelled mission whose worker died before announcing it counts as announced after `graceMs`.
   */
  async streamState(missionId: string, graceMs: number): Promise<{ status: MissionStatus; ended: boolean } | undefined> {
    const { rows } = await this.db.raw(
      `select status, status = any(:terminal) and (
           exists (select 1 from mission_events e where e.mission_id = m.id and e.type = 'status' and e.data->>'status' = m.status)
           or finished_at < now() - make_interval(secs => :grace)
         ) as ended
       from missions m where id = :id`,
      { id: missionId, terminal: [...TERMINAL_STATUSES], grace: graceMs / 1000 },
    );
    return rows[0];
  }

}

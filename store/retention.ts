import { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import type { Redis } from '../lib/redis';

export interface RetentionOptions {
  /** Ended missions (and what belongs to them) older than this are deleted. */
  retentionDays: number;
  /** How often a purge runs; one process of the fleet purges at a time. Default 60 s. */
  everyMs: number;
  /** Rows one statement deletes at most, so no statement holds its locks for long. Default 500. */
  chunk: number;
  /** How long one purge may go on, chunk after chunk. Default 2 s. */
  budgetMs: number;
}

export const DEFAULT_RETENTION_OPTIONS: Omit<RetentionOptions, 'retentionDays'> = { everyMs: 60_000, chunk: 500, budgetMs: 2_000 };

/** Rows a purge deleted, by kind. */
export interface Purged {
  missions: number;
  batches: number;
  idempotency_keys: number;
  webhook_deliveries: number;
  files: number;
}

interface RetentionEvents {
  /** This process ran a purge (it held the lease). */
  purged: [purged: Purged, ms: number];
  failed: [error: Error];
}

const TERMINAL = `('succeeded', 'failed', 'cancelled', 'timed_out')`;

// Each a chunk of at most :chunk rows older than :cutoff; a mission of a batch goes only once its batch has ended
// before the cutoff, so a batch is never left half there. Steps, events, model calls and approvals cascade.
const STATEMENTS: Record<keyof Purged, string> = {
  missions: `delete from missions where id in (
      select id from missions m where created_at < :cutoff and status in ${TERMINAL} and finished_at < :cutoff
        and (batch_id is null or exists (select 1 from batches b where b.id = m.batch_id and b.ended_at < :cutoff))
      order by created_at limit :chunk)`,
  batches: `delete from batches where id in (
      select id from batches b where ended_at < :cutoff and not exists (select 1 from missions m where m.batch_id = b.id)
      limit :chunk)`,
  idempotency_keys: `delete from idempotency_keys where (tenant_id, key) in (
      select tenant_id, key from idempotency_keys where created_at < :cutoff order by created_at limit :chunk)`,
  webhook_deliveries: `delete from webhook_deliveries where id in (
      select id from webhook_deliveries where created_at < :cutoff and status <> 'pending' order by created_at limit :chunk)`,
  // Uploaded archives no submission named for the whole period, and no unfinished mission names.
  files: `delete from files where id in (
      select id from files f where last_used_at < :cutoff and not exists (
        select 1 from missions m where m.tenant_id = f.tenant_id and m.status in ('queued', 'running', 'waiting_approval')
          and (m.spec->'environment'->'files' @> jsonb_build_array(jsonb_build_object('file_id', f.id::text))
            or m.spec->'scorer'->'files' @> jsonb_build_array(jsonb_build_object('file_id', f.id::text))))
      order by last_used_at limit :chunk)`,
};

/**
 * Deletes what is older than RETENTION_DAYS, so no table grows forever: ended missions with their steps, events,
 * model calls, approvals and artifacts; ended batches with no mission left; idempotency keys; settled webhook
 * deliveries; uploaded files no mission named in the period. In
 * chunks of `chunk` rows, one short statement each with a pause as long after it, for at most `budgetMs` a run;
 * the rest waits for the next run.
 * Every process may run one: a lease in Redis lets one purge at a time.
 */
export class RetentionPurger extends EventEmitter<RetentionEvents> {
  private readonly options: RetentionOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Purged | undefined> | undefined;

  constructor(
    private readonly db: Knex,
    /** A connection that fails fast while Redis is away (lib/redis.ts, producer). */
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly owner: string,
    options: Pick<RetentionOptions, 'retentionDays'> & Partial<RetentionOptions>,
  ) {
    super();
    this.options = { ...DEFAULT_RETENTION_OPTIONS, ...options };
  }

  start(): void {
    this.timer ??= setInterval(() => void this.purge().catch((error: Error) => this.emit('failed', error)), this.options.everyMs);
    this.timer.unref();
  }

  /** Stops purging and waits for a purge under way. Safe to call twice. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One purge, if this process holds the lease; what it deleted (undefined: another process purges now). */
  purge(now = new Date()): Promise<Purged | undefined> {
    this.running ??= this.purgeOnce(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async purgeOnce(now: Date): Promise<Purged | undefined> {
    const leased = await this.redis.set(`${this.prefix}:retention`, this.owner, 'PX', this.options.everyMs, 'NX');
    if (leased !== 'OK') return undefined;
    const started = Date.now();
    const cutoff = new Date(now.getTime() - this.options.retentionDays * 86_400_000);
    const purged: Purged = { missions: 0, batches: 0, idempotency_keys: 0, webhook_deliveries: 0, files: 0 };
    for (const kind of Object.keys(STATEMENTS) as (keyof Purged)[]) {
      for (;;) {
        const chunkStarted = Date.now();
        const { rowCount } = (await this.db.raw(STATEMENTS[kind], { cutoff, chunk: this.options.chunk })) as { rowCount: number };
        purged[kind] += rowCount;
        if (rowCount < this.options.chunk || Date.now() - started > this.options.budgetMs) break;
        // As long again between chunks: a purge takes at most half of Postgres's time from the missions running.
        await new Promise((resolve) => setTimeout(resolve, Date.now() - chunkStarted));
      }
    }
    this.emit('purged', purged, Date.now() - started);
    return purged;
  }
}

import type { Knex } from 'knex';
import type { Mission, MissionSpec, MissionStatus } from '../../jobs/mission';
import type { MissionStore } from '../missionStore';

/** Statuses an item may be retried from: whatever did not succeed and has ended. */
export const RETRYABLE_STATUSES = ['failed', 'timed_out', 'cancelled'] as const;

export interface RetryFilter {
  statuses: readonly (typeof RETRYABLE_STATUSES)[number][];
  /** Only items whose error has one of these codes. */
  errorCodes?: readonly string[];
}

/** Checks specs as a new submission would be checked; throws to refuse them. */
export type Admit = (specs: MissionSpec[]) => Promise<void>;

/**
 * A new attempt of each item (of each epoch, with epochs) of the batch whose latest attempt matches: the same spec, `attempt` one more,
 * `retry_of` the attempt before (which is superseded). Items that succeeded are never run again. The batch is
 * in progress again until its new attempts end. Returns the new missions, committed, for the caller to enqueue.
 */
export async function retryItems(db: Knex, missions: MissionStore, batchId: string, filter: RetryFilter, admit: Admit): Promise<Mission[]> {
  return db.transaction(async (trx) => {
    const query = trx('missions')
      .where({ batch_id: batchId })
      .whereNull('superseded_by')
      .whereIn('status', filter.statuses as readonly MissionStatus[]);
    if (filter.errorCodes) query.whereRaw(`error->>'code' = any(?)`, [[...filter.errorCodes]]);
    // Locked, so a retry that runs at the same moment finds them superseded and retries nothing twice.
    const previous = (await query.orderBy(['item', 'epoch']).forUpdate().select('id', 'tenant_id', 'item', 'epoch', 'attempt', 'spec')) as Pick<Mission, 'id' | 'tenant_id' | 'item' | 'epoch' | 'attempt' | 'spec'>[];
    if (previous.length === 0) return [];
    // The same admission as a new submission: what the tenant may no longer do is refused, and nothing is retried.
    await admit(previous.map((mission) => mission.spec));
    const created = await missions.create(
      previous.map((mission) => ({ tenant_id: mission.tenant_id, spec: mission.spec, batch_id: batchId, item: mission.item!, epoch: mission.epoch, attempt: mission.attempt + 1, retry_of: mission.id })),
      trx,
    );
    await trx.raw(
      `update missions set superseded_by = retried.new from (select unnest(:old::uuid[]) as old, unnest(:new::uuid[]) as new) retried
       where missions.id = retried.old`,
      { old: previous.map((mission) => mission.id), new: created.map((mission) => mission.id) },
    );
    await trx('batches').where({ id: batchId }).update({ ended_at: null, cancel_requested_at: null });
    return created;
  });
}

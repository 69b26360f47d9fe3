import type { Knex } from 'knex';
import { UNFINISHED_STATUSES, type MissionError, type MissionStatus } from '../../jobs/mission';

/** How an item fared here against there: broken (passed there, not here), fixed, or the same either way. */
export type Change = 'broken' | 'fixed' | 'still_failing' | 'still_passing' | 'unfinished' | 'only_here' | 'only_there';

export interface ComparedItem {
  custom_id: string;
  change: Change;
  here: { mission_id: string; status: MissionStatus; error: MissionError | null } | null;
  there: { mission_id: string; status: MissionStatus; error: MissionError | null } | null;
}

interface Side {
  id: string;
  custom_id: string;
  status: MissionStatus;
  error: MissionError | null;
}

function changeOf(here: Side | undefined, there: Side | undefined): Change {
  if (!there) return 'only_here';
  if (!here) return 'only_there';
  if (UNFINISHED_STATUSES.includes(here.status)) return 'unfinished';
  const [passedHere, passedThere] = [here.status === 'succeeded', there.status === 'succeeded'];
  if (passedHere === passedThere) return passedHere ? 'still_passing' : 'still_failing';
  return passedHere ? 'fixed' : 'broken';
}

/**
 * Pairs the latest attempts of two batches by `custom_id` (items without one are not compared) and says how each
 * changed from `there` (an earlier run, say) to `here`. One query per batch, in custom_id order.
 */
export async function compareBatches(db: Knex, hereId: string, thereId: string): Promise<ComparedItem[]> {
  const side = (batchId: string) =>
    db('missions').where({ batch_id: batchId }).whereNull('superseded_by').whereNotNull('custom_id').select('id', 'custom_id', 'status', 'error') as Promise<Side[]>;
  const [here, there] = await Promise.all([side(hereId), side(thereId)]);
  const theirs = new Map(there.map((item) => [item.custom_id, item]));
  const ours = new Map(here.map((item) => [item.custom_id, item]));
  const names = [...new Set([...ours.keys(), ...theirs.keys()])].sort();
  const view = (item: Side | undefined) => item && { mission_id: item.id, status: item.status, error: item.error };
  return names.map((name) => ({ custom_id: name, change: changeOf(ours.get(name), theirs.get(name)), here: view(ours.get(name)) ?? null, there: view(theirs.get(name)) ?? null }));
}

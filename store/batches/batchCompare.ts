import type { Knex } from 'knex';
import { pairedDifference, type Difference } from '../../scoring/pairedDifference';
import type { Score } from '../../scoring/score';
import { UNFINISHED_STATUSES, type MissionError, type MissionStatus } from '../../jobs/mission';

/** How an item fared here against there: broken (passed there, not here), fixed, or the same either way. */
export type Change = 'broken' | 'fixed' | 'still_failing' | 'still_passing' | 'unfinished' | 'only_here' | 'only_there';

/** One side of an item: its runs (one per epoch), shown by the first that did not pass (else the first). */
export interface ItemSide {
  mission_id: string;
  status: MissionStatus;
  error: MissionError | null;
  /** Its runs, and how many passed. */
  epochs: number;
  passed: number;
  /** The mean of its runs' values (its score, or 1 for succeeded and 0 otherwise without a scorer); null with none. */
  score: number | null;
  /** Whether a scorer scored any of its runs (else its score is its outcome). */
  scored: boolean;
}

export interface ComparedItem {
  custom_id: string;
  change: Change;
  here: ItemSide | null;
  there: ItemSide | null;
}

export interface Comparison {
  items: ComparedItem[];
  /** Here − there over the items valued in both; null with none. */
  difference: Difference | null;
}

interface Run {
  id: string;
  custom_id: string;
  epoch: number;
  status: MissionStatus;
  error: MissionError | null;
  score: Score | null;
}

/** A run's value: its score's, or its outcome's without a scorer; none while unfinished or when its scorer errored. */
function valueOf(run: Run): number | null {
  if (run.score) return run.score.value;
  if (UNFINISHED_STATUSES.includes(run.status)) return null;
  return run.status === 'succeeded' ? 1 : 0;
}

const passedOf = (run: Run) => (run.score ? run.score.passed === true : run.status === 'succeeded');

function sideOf(runs: readonly Run[] | undefined): (ItemSide & { unfinished: boolean }) | undefined {
  if (!runs) return undefined;
  const shown = runs.find((run) => !passedOf(run)) ?? runs[0]!;
  const values = runs.map(valueOf).filter((value): value is number => value !== null);
  return {
    mission_id: shown.id,
    status: shown.status,
    error: shown.error,
    epochs: runs.length,
    passed: runs.filter(passedOf).length,
    score: values.length > 0 ? values.reduce((sum, value) => sum + value, 0) / values.length : null,
    scored: runs.some((run) => run.score !== null),
    unfinished: runs.some((run) => UNFINISHED_STATUSES.includes(run.status)),
  };
}

/** An item passes when every run of it passed (its scorer's verdict where it has one). */
function changeOf(here: ReturnType<typeof sideOf>, there: ReturnType<typeof sideOf>): Change {
  if (!there) return 'only_here';
  if (!here) return 'only_there';
  if (here.unfinished) return 'unfinished';
  const [passedHere, passedThere] = [here.passed === here.epochs, there.passed === there.epochs];
  if (passedHere === passedThere) return passedHere ? 'still_passing' : 'still_failing';
  return passedHere ? 'fixed' : 'broken';
}

function byCustomId(runs: readonly Run[]): Map<string, Run[]> {
  const items = new Map<string, Run[]>();
  for (const run of runs) items.set(run.custom_id, [...(items.get(run.custom_id) ?? []), run]);
  return items;
}

/**
 * Pairs the latest attempts of two batches by `custom_id` (items without one are not compared), every epoch of
 * an item together, and says how each changed from `there` (an earlier run, say) to `here`, and by how much the
 * suite moved beyond its noise (a paired t-test at `alpha`). One query per batch, in custom_id order.
 */
export async function compareBatches(db: Knex, hereId: string, thereId: string, alpha: number): Promise<Comparison> {
  const side = (batchId: string) =>
    db('missions')
      .where({ batch_id: batchId })
      .whereNull('superseded_by')
      .whereNotNull('custom_id')
      .orderBy(['custom_id', 'epoch'])
      .select('id', 'custom_id', 'epoch', 'status', 'error', 'score') as Promise<Run[]>;
  const [ours, theirs] = (await Promise.all([side(hereId), side(thereId)])).map(byCustomId) as [Map<string, Run[]>, Map<string, Run[]>];
  const names = [...new Set([...ours.keys(), ...theirs.keys()])].sort();
  const pairs: { here: number; there: number }[] = [];
  const items = names.map((name) => {
    const [here, there] = [sideOf(ours.get(name)), sideOf(theirs.get(name))];
    if (here?.score != null && there?.score != null && !here.unfinished && !there.unfinished) pairs.push({ here: here.score, there: there.score });
    const view = (item: typeof here) => (item ? (({ unfinished: _, ...shown }) => shown)(item) : null);
    return { custom_id: name, change: changeOf(here, there), here: view(here), there: view(there) };
  });
  return { items, difference: pairedDifference(pairs, alpha) };
}

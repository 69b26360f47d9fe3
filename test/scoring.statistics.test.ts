import { passAtK, scoreStatistics } from '../scoring/metrics';
import type { Score } from '../scoring/score';
import { pairedDifference } from '../scoring/pairedDifference';
import { criticalT, twoSidedP } from '../scoring/studentT';

// The batch's statistics against values computed here another way: the clustered standard error from its
// definition (the spread of the item means), pass@k by counting the k-subsets of each item's epochs.
const score = (value: number | null, passAt = 1): Score => ({ value, passed: value === null ? null : value >= passAt, explanation: null, scorer: 'command', duration_ms: 1, ...(value === null && { error: 'crashed' }) });

function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (n < k) return [];
  return [...subsets(n - 1, k - 1).map((subset) => [...subset, n - 1]), ...subsets(n - 1, k)];
}

test('mean over items, standard error clustered by item, a 95% interval, the pass rate and pass@k', () => {
  // Four items of three epochs each (1 passed, 0 failed), and one whose every score errored.
  const epochs = [
    [1, 1, 1],
    [1, 0, 0],
    [0, 0, 0],
    [1, 1, 0],
  ];
  const byItem = new Map<number, Score[]>(epochs.map((values, item) => [item, values.map((value) => score(value))]));
  byItem.set(4, [score(null), score(null)]);

  const statistics = scoreStatistics(byItem)!;

  const itemMeans = [1, 1 / 3, 0, 2 / 3];
  const mean = 0.5;
  const clusteredSe = Math.sqrt(itemMeans.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (4 * 3));
  const passAt = (k: number) =>
    epochs.reduce((sum, values) => {
      const all = subsets(values.length, k);
      return sum + all.filter((subset) => subset.some((index) => values[index] === 1)).length / all.length;
    }, 0) / epochs.length;
  expect(statistics).toMatchObject({ items: 5, scored: 4, errored: 1, pass_rate: 0.25 });
  expect(statistics.mean).toBeCloseTo(mean, 12);
  expect(statistics.stderr).toBeCloseTo(clusteredSe, 12);
  expect(statistics.ci95![0]).toBeCloseTo(mean - 1.959964 * clusteredSe, 9);
  expect(statistics.ci95![1]).toBeCloseTo(mean + 1.959964 * clusteredSe, 9);
  expect(Object.keys(statistics.pass_at_k)).toEqual(['1', '3']);
  expect(statistics.pass_at_k['1']).toBeCloseTo(passAt(1), 12);
  expect(statistics.pass_at_k['3']).toBeCloseTo(passAt(3), 12);
});

test('pass@k is the unbiased estimator: exact for large n, 1 when fewer than k failed', () => {
  for (const [n, c, k] of [[10, 3, 1], [10, 3, 5], [7, 0, 2], [12, 12, 4]] as const) {
    const all = subsets(n, k);
    // Epochs 0..c-1 passed.
    expect(passAtK(n, c, k)).toBeCloseTo(all.filter((subset) => subset.some((index) => index < c)).length / all.length, 12);
  }
  expect(passAtK(5, 4, 2)).toBe(1);
});

test('one item: a mean but no standard error; no scored item: no mean; no score at all: null', () => {
  expect(scoreStatistics(new Map([[0, [score(0.5, 0.5)]]]))).toMatchObject({ items: 1, scored: 1, mean: 0.5, stderr: null, ci95: null, pass_rate: 1 });
  expect(scoreStatistics(new Map([[0, [score(null)]]]))).toMatchObject({ scored: 0, errored: 1, mean: null, pass_at_k: {} });
  expect(scoreStatistics(new Map())).toBeNull();
});

test("Student's t: the quantiles of the printed tables, and a paired difference's edge cases", () => {
  // Two-sided 5% critical values (any statistics table): 12.706 for 1 degree of freedom, 2.093 for 19, 2.009 for 50.
  for (const [df, t] of [[1, 12.706], [19, 2.093], [50, 2.009]] as const) {
    expect(criticalT(0.05, df)).toBeCloseTo(t, 3);
    expect(twoSidedP(t, df)).toBeCloseTo(0.05, 4);
  }
  // With one degree of freedom T is Cauchy: P(|T| >= 1) = 1/2.
  expect(twoSidedP(1, 1)).toBeCloseTo(0.5, 12);
  expect(pairedDifference([{ here: 1, there: 0 }], 0.05)).toMatchObject({ items: 1, mean: 1, stderr: null, p_value: null, significant: false });
  expect(pairedDifference([{ here: 0.5, there: 0.5 }, { here: 1, there: 1 }], 0.05)).toMatchObject({ mean: 0, stderr: 0, p_value: 1, significant: false });
  expect(pairedDifference([{ here: 0, there: 0.5 }, { here: 0.5, there: 1 }], 0.05)).toMatchObject({ mean: -0.5, stderr: 0, p_value: 0, significant: true });
  expect(pairedDifference([], 0.05)).toBeNull();
});

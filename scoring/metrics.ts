import type { Score } from './score';

/** A batch's scores, folded as the evaluation literature does (docs/scoring.md says the formulas). */
export interface ScoreStatistics {
  /** Items with a score of any kind (scored or errored). */
  items: number;
  /** Items with at least one score value. */
  scored: number;
  /** Items whose every score errored. */
  errored: number;
  /** Over items, each item's mean over its epochs; null with no item scored. */
  mean: number | null;
  /** The standard error of the mean, clustered by item; null with fewer than two items scored. */
  stderr: number | null;
  ci95: [number, number] | null;
  /** Items whose every scored epoch passed. */
  pass_rate: number | null;
  /** The unbiased estimator of Chen et al. (2021), averaged over items, for k = 1 and k = the fewest epochs scored. */
  pass_at_k: Record<string, number>;
}

/** The normal quantile for a two-sided 95% interval. */
const Z95 = 1.959964;

/** Folds each item's scores (one per epoch) into the batch's statistics. */
export function scoreStatistics(byItem: ReadonlyMap<number, readonly Score[]>): ScoreStatistics | null {
  if (byItem.size === 0) return null;
  const means: number[] = [];
  const passes: { n: number; c: number }[] = [];
  let errored = 0;
  for (const scores of byItem.values()) {
    const values = scores.filter((score) => score.value !== null);
    if (values.length === 0) {
      errored++;
      continue;
    }
    means.push(values.reduce((sum, score) => sum + score.value!, 0) / values.length);
    passes.push({ n: values.length, c: values.filter((score) => score.passed).length });
  }
  const n = means.length;
  const mean = n > 0 ? means.reduce((sum, value) => sum + value, 0) / n : null;
  const stderr = n > 1 && mean !== null ? Math.sqrt(means.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (n - 1) / n) : null;
  const ks = n > 0 ? [...new Set([1, Math.min(...passes.map((item) => item.n))])] : [];
  return {
    items: byItem.size,
    scored: n,
    errored,
    mean,
    stderr,
    ci95: mean !== null && stderr !== null ? [mean - Z95 * stderr, mean + Z95 * stderr] : null,
    pass_rate: n > 0 ? passes.filter((item) => item.c === item.n).length / n : null,
    pass_at_k: Object.fromEntries(ks.map((k) => [String(k), passes.reduce((sum, item) => sum + passAtK(item.n, item.c, k), 0) / n])),
  };
}

/** 1 − C(n−c, k)/C(n, k), computed as a product so that it stays exact for large n. */
export function passAtK(n: number, c: number, k: number): number {
  if (n - c < k) return 1;
  let missAll = 1;
  for (let i = n - c + 1; i <= n; i++) missAll *= 1 - k / i;
  return 1 - missAll;
}

import { criticalT, twoSidedP } from './studentT';

/** Two runs of one suite, item by item: how far apart, and whether more than noise would put them. */
export interface Difference {
  /** Items scored in both runs: the pairs. */
  items: number;
  /** The runs' means over those items. */
  here_mean: number;
  there_mean: number;
  /** Here minus there, over the pairs; its standard error from the spread of the per-item differences. */
  mean: number;
  stderr: number | null;
  /** Student's t interval with items − 1 degrees of freedom. */
  ci95: [number, number] | null;
  /** Of the paired t-test: how often noise alone would give a difference this large either way. */
  p_value: number | null;
  alpha: number;
  /** p_value < alpha. */
  significant: boolean;
}

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

/**
 * The paired difference of two runs' per-item mean scores (here − there). Pairing takes out what makes items
 * differ from each other (some are hard in both runs), which two unpaired means would count as noise.
 */
export function pairedDifference(pairs: readonly { here: number; there: number }[], alpha: number): Difference | null {
  const n = pairs.length;
  if (n === 0) return null;
  const differences = pairs.map((pair) => pair.here - pair.there);
  const difference = mean(differences);
  const sides = { items: n, here_mean: mean(pairs.map((pair) => pair.here)), there_mean: mean(pairs.map((pair) => pair.there)), mean: difference, alpha };
  if (n < 2) return { ...sides, stderr: null, ci95: null, p_value: null, significant: false };
  const stderr = Math.sqrt(differences.reduce((sum, value) => sum + (value - difference) ** 2, 0) / (n - 1) / n);
  // Every item moved by the same amount: no noise to measure it against.
  const pValue = stderr === 0 ? (difference === 0 ? 1 : 0) : twoSidedP(difference / stderr, n - 1);
  const halfWidth = criticalT(0.05, n - 1) * stderr;
  return { ...sides, stderr, ci95: [difference - halfWidth, difference + halfWidth], p_value: pValue, significant: pValue < alpha };
}

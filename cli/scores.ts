import type { ScoreStatistics } from '../scoring/metrics';
import type { Difference } from '../scoring/pairedDifference';

/** A score to three places; a dash for none. */
export const fixed = (value: number | null | undefined) => (value === null || value === undefined ? '–' : value.toFixed(3));

/** The suite's move in a line: both means, the difference with its interval, and whether it is beyond noise. */
export function differenceLine(difference: Difference): string {
  const interval = difference.ci95 ? ` (95% CI ${fixed(difference.ci95[0])} to ${fixed(difference.ci95[1])}, p = ${difference.p_value!.toPrecision(2)})` : '';
  const verdict = difference.p_value === null ? 'too few items to tell' : difference.significant ? `significant at ${difference.alpha}` : `not significant at ${difference.alpha}`;
  return `score ${fixed(difference.there_mean)} → ${fixed(difference.here_mean)} over ${difference.items} items: ${difference.mean >= 0 ? '+' : ''}${fixed(difference.mean)}${interval}, ${verdict}`;
}

/** A batch's statistics in a line: the mean with its interval, pass@k, and what could not be scored. */
export function scoresLine(scores: ScoreStatistics): string {
  const mean = scores.mean === null ? 'no item scored' : `mean ${fixed(scores.mean)}${scores.stderr === null ? '' : ` ± ${fixed(scores.stderr)} (95% CI ${fixed(scores.ci95![0])}–${fixed(scores.ci95![1])})`}`;
  const passAt = Object.entries(scores.pass_at_k).map(([k, value]) => `pass@${k} ${fixed(value)}`);
  return [mean, ...passAt, `${scores.scored} of ${scores.items} items scored`, ...(scores.errored > 0 ? [`${scores.errored} errored`] : [])].join(', ');
}

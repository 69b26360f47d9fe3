import type { Step } from '../../jobs/mission';

/** What a model is shown of a mission's steps: the newest ones, at most this many, within about this many tokens. */
export interface HistoryBound {
  steps: number;
  tokens: number;
}

/** About this many characters a token, as the limiter reserves by (llmLimiter.ts): English and code run 3-4. */
const CHARS_PER_TOKEN = 4;
/** What a step's call and the messages around it add to its observation. */
const STEP_OVERHEAD_CHARS = 200;

/** The characters one observation may take: half the bound, so the newest step leaves room for the rest. */
export function observationChars(bound: HistoryBound): number {
  return Math.floor((bound.tokens * CHARS_PER_TOKEN) / 2);
}

/** `text` cut in the middle to at most `maxChars`, saying how much is not shown. */
export function clipped(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const marker = `\n[... ${text.length} characters, the middle not shown ...]\n`;
  const half = Math.max(0, Math.floor((maxChars - marker.length) / 2));
  return `${text.slice(0, half)}${marker}${text.slice(text.length - half)}`;
}

/**
 * The newest steps that fit the bound, oldest first (always the newest one: its observation is clipped to
 * fit), and how many older ones are left out. `shownChars` is what a step takes as the model is shown it.
 */
export function historyWindow(history: readonly Step[], bound: HistoryBound, shownChars: (step: Step) => number): { shown: readonly Step[]; omitted: number } {
  let budget = bound.tokens * CHARS_PER_TOKEN;
  let first = history.length;
  while (first > 0 && history.length - first < bound.steps) {
    const cost = shownChars(history[first - 1]!) + STEP_OVERHEAD_CHARS;
    if (cost > budget && first < history.length) break;
    budget -= cost;
    first--;
  }
  return { shown: history.slice(first), omitted: first };
}

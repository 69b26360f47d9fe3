import type { PlanStep, Step } from '../mission';

/** The next thing a mission does: call a tool, or finish with a result. */
export type Action =
  | { kind: 'tool'; thought: string | null; call: PlanStep }
  | { kind: 'finish'; thought: string | null; result: unknown };

/** Who thinks: given the durable steps so far, decides the next action. */
export interface Policy {
  next(history: readonly Step[], signal: AbortSignal): Promise<Action>;
}

import type { ModelUsage, PlanStep, Step } from '../../jobs/mission';

/**
 * The next thing a mission does: call a tool, finish with a result, or (from a model) something unusable; with
 * what the model call that chose it used, when a model chose it.
 */
export type Action = (
  | { kind: 'tool'; thought: string | null; call: PlanStep }
  /** `implicit`: the plan ran out, rather than the policy deciding to finish; it is no step of its own. */
  | { kind: 'finish'; thought: string | null; result: unknown; implicit?: boolean }
  /** The model's reply was not a valid action: recorded as a step, and the model is told what was wrong. */
  | { kind: 'invalid'; thought: string | null; error: string; output: unknown; code?: string; tool?: string }
) & { usage?: ModelUsage };

/** Who thinks: given the durable steps so far, decides the next action. */
export interface Policy {
  /** `notice`: what the policy should know before it chooses, beyond the steps (a model is told it). */
  next(history: readonly Step[], signal: AbortSignal, notice?: string): Promise<Action>;
  /** Whether a failed step goes back to the policy as an observation (a model) or fails the mission (a script). */
  readonly feedsBackErrors: boolean;
}

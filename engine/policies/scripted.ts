import type { PlanStep, Step } from '../../jobs/mission';
import type { Action, Policy } from './policy';

/** Replays the mission's `plan`, one step per call; finishes with the last step's output. Needs no LLM. */
export function scriptedPolicy(plan: readonly PlanStep[]): Policy {
  return {
    feedsBackErrors: false,
    async next(history: readonly Step[]): Promise<Action> {
      const step = plan[history.length];
      if (step) return { kind: 'tool', thought: `step ${history.length + 1} of ${plan.length}`, call: step };
      const last = history.at(-1)?.observation as { stdout?: string } | undefined;
      return { kind: 'finish', thought: 'the plan is complete', result: { output: last?.stdout ?? null }, implicit: true };
    },
  };
}

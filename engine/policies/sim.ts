import { setTimeout as sleep } from 'node:timers/promises';
import type { PlanStep, Step } from '../../jobs/mission';
import type { Action, Policy } from './policy';
import { scriptedPolicy } from './scripted';

/**
 * A latency model of an LLM, for capacity runs: before each action it "thinks" for about `thinkMs` (±20%),
 * holding no sandbox and no thread, then acts as the scripted policy would. Never the default.
 */
export function simPolicy(plan: readonly PlanStep[], thinkMs: number): Policy {
  const scripted = scriptedPolicy(plan);
  return {
    feedsBackErrors: false,
    async next(history: readonly Step[], signal: AbortSignal): Promise<Action> {
      await sleep(thinkMs * (0.8 + Math.random() * 0.4), undefined, { signal });
      return scripted.next(history, signal);
    },
  };
}

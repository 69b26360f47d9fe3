import type { Approval } from '../store/approvals';
import type { ModelUsage, PlanStep, Step } from '../jobs/mission';
import type { Action } from './policies/policy';
import type { ToolOutcome } from '../jobs/tools';

/** A step as the engine records it, and why it failed, if it did. */
export interface RecordedStep {
  row: Step;
  error: ToolOutcome['error'];
}

/** What a decided approval runs: the approved call, or a refusal recorded as the step's error. */
export function decidedAction(decision: Approval): Action {
  const usage = decision.usage ?? undefined;
  if (decision.status === 'approved') return { kind: 'tool', thought: decision.thought, call: { tool: decision.tool, input: decision.input } as PlanStep, usage };
  const error = `rejected by a human${decision.reason ? `: ${decision.reason}` : ''}`;
  return { kind: 'invalid', thought: decision.thought, error, output: decision.input, code: 'ERR_REJECTED', tool: decision.tool, usage };
}

/** A model reply that was no valid action, recorded as a step so the model is told what was wrong. */
export function invalidStep(missionId: string, seq: number, action: Extract<Action, { kind: 'invalid' }>): RecordedStep {
  const now = new Date();
  const row: Step = {
    mission_id: missionId,
    seq,
    thought: action.thought,
    tool: action.tool ?? 'invalid',
    input: action.output,
    observation: { error: action.error },
    exit_code: null,
    error: action.error,
    started_at: now,
    finished_at: now,
    usage: action.usage ?? null,
  };
  return { row, error: { code: action.code ?? 'ERR_INVALID_ACTION', message: action.error } };
}

export const tokensOf = (usage: ModelUsage | null | undefined): number => (usage ? usage.input_tokens + usage.output_tokens : 0);

/** The model call that took the mission past its token limit: recorded, with what it chose left undone. */
export function overLimitStep(missionId: string, seq: number, action: Action, limit: number, used: number): RecordedStep {
  const chosen = action.kind === 'tool' ? action.call : action.kind === 'finish' ? { tool: 'finish', input: { result: action.result } } : { tool: action.tool ?? 'invalid', input: action.output };
  const error = `this model call took the mission to ${used} tokens, past its token limit of ${limit}: what it chose was not done`;
  return invalidStep(missionId, seq, { kind: 'invalid', thought: action.thought, error, output: chosen.input, code: 'ERR_TOKEN_LIMIT', tool: chosen.tool, usage: action.usage });
}

/** The mission's finish action, recorded as its last step, so the trace shows how it ended. */
export function finishStep(missionId: string, seq: number, thought: string | null, result: unknown, usage: ModelUsage | undefined): Step {
  const now = new Date();
  return { mission_id: missionId, seq, thought, tool: 'finish', input: { result }, observation: null, exit_code: null, error: null, started_at: now, finished_at: now, usage: usage ?? null };
}

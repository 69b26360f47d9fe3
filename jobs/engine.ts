import { EventEmitter } from 'node:events';
import { SandboxError } from '../sandbox/errors';
import type { Sandbox } from '../sandbox/sandbox';
import type { Mission, MissionError, MissionStatus, PlanStep, Step } from './mission';
import type { Approval, Approvals } from './approvals';
import type { MissionProgress } from './missionProgress';
import type { MissionStore } from './missionStore';
import type { StepWriter } from './stepWriter';
import type { Action, Policy } from './policies/policy';
import { runTool, type SandboxedCall, type ToolLimits, type ToolOutcome } from './tools';

export interface EngineOptions extends ToolLimits {
  /** Recorded on each mission this engine runs. */
  workerId: string;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  workerId: 'unnamed',
  shellTimeoutMs: 300_000,
  pythonTimeoutMs: 60_000,
  maxOutputBytes: 10_240,
};

/** Where the engine gets a mission's sandbox, and gives it back when the mission ends (sandbox/pool.ts). */
export interface SandboxSource {
  acquire(): Promise<Sandbox>;
  release(sandbox: Sandbox): Promise<void>;
}

export interface EngineDeps {
  store: MissionStore;
  progress: MissionProgress;
  steps: StepWriter;
  approvals: Approvals;
  policyFor: (mission: Mission) => Policy;
  sandboxes: SandboxSource;
}

export interface MissionOutcome {
  status: MissionStatus;
  steps: number;
  error?: MissionError;
}

type ToolAction = Extract<Action, { kind: 'tool' }>;

/** The mission's sandbox, once its first sandboxed tool call has acquired one. */
interface SandboxLease {
  sandbox?: Sandbox;
}

/** Runs missions: asks the policy for each step, runs it in the mission's own sandbox, records it, repeats. */
interface EngineEvents {
  /** A mission is recorded as running on this worker (for pickup latency and metrics). */
  started: [missionId: string];
}

export class MissionEngine extends EventEmitter<EngineEvents> {
  private readonly options: EngineOptions;

  constructor(
    private readonly deps: EngineDeps,
    options: Partial<EngineOptions> = {},
  ) {
    super();
    this.options = { ...DEFAULT_ENGINE_OPTIONS, ...options };
  }

  /** Runs the mission to its end. Returns undefined when there is no such mission. */
  async run(missionId: string, signal: AbortSignal = new AbortController().signal): Promise<MissionOutcome | undefined> {
    const mission = await this.deps.progress.markRunning(missionId, this.options.workerId);
    if (!mission) {
      // Finished, cancelled or unknown: say which, without running anything.
      const existing = await this.deps.store.get(missionId);
      return existing && { status: existing.status, steps: existing.step_count };
    }
    this.emit('started', missionId);
    const lease: SandboxLease = {};
    // Cancelling kills the running step at once: its sandbox goes, and the loop stops before the next step.
    const killRunningStep = () => void lease.sandbox?.destroy().catch(() => undefined);
    signal.addEventListener('abort', killRunningStep, { once: true });
    try {
      const outcome = await this.loop(mission, signal, lease);
      // The outcome is recorded before the sandbox is removed: removing a gVisor container takes ~150 ms.
      // A mission waiting for approval was parked by Approvals.request and stays as it is.
      if (outcome.status !== 'waiting_approval') await this.deps.progress.finish(missionId, outcome);
      return { status: outcome.status, steps: outcome.steps, error: outcome.error };
    } finally {
      signal.removeEventListener('abort', killRunningStep);
      if (lease.sandbox) await this.deps.sandboxes.release(lease.sandbox);
    }
  }

  private async loop(mission: Mission, signal: AbortSignal, lease: SandboxLease): Promise<MissionOutcome & { result?: unknown }> {
    const policy = this.deps.policyFor(mission);
    const history = mission.step_count > 0 ? await this.deps.store.steps(mission.id) : [];
    // Steps already recorded mean the mission ran before (a lost worker, an approval wait): its sandbox is new.
    let resumeNote = history.length > 0 ? ' (continued in a new sandbox: files of earlier steps are gone)' : '';
    const gated = new Set<string>(mission.spec.require_approval ?? []);
    try {
      for (;;) {
        if (signal.aborted) return cancelled(history.length);
        const seq = history.length + 1;
        // A step that waited for a human runs as it was approved, or is recorded as rejected.
        const decision = gated.size > 0 ? await this.deps.approvals.get(mission.id, seq) : undefined;
        if (decision?.status === 'pending') return { status: 'waiting_approval', steps: history.length };
        let action: Action;
        try {
          action = decision ? decidedAction(decision) : await policy.next(history, signal);
        } catch (error) {
          if (signal.aborted) return cancelled(history.length); // cancelled while the policy was thinking
          const message = `the policy failed: ${error instanceof Error ? error.message : String(error)}`;
          return { status: 'failed', steps: history.length, error: { code: 'ERR_POLICY', message } };
        }
        if (action.kind === 'finish') return { status: 'succeeded', steps: history.length, result: action.result };
        if (action.kind === 'tool' && action.call.tool === 'finish') {
          return { status: 'succeeded', steps: history.length, result: action.call.input.result };
        }
        if (history.length >= mission.spec.max_steps) {
          const message = `the mission reached its step cap of ${mission.spec.max_steps}`;
          return { status: 'failed', steps: history.length, error: { code: 'ERR_STEP_CAP', message } };
        }
        let step: { row: Step; error: ToolOutcome['error'] };
        if (action.kind === 'invalid') {
          step = invalidStep(mission.id, seq, action);
        } else if (gated.has(action.call.tool) && !decision) {
          await this.deps.approvals.request(mission.id, seq, action.thought, action.call as SandboxedCall);
          return { status: 'waiting_approval', steps: history.length };
        } else {
          lease.sandbox ??= await this.deps.sandboxes.acquire();
          // Cancelled while the sandbox was being acquired: the abort listener had nothing to kill yet.
          if (signal.aborted) return cancelled(history.length);
          const thought = action.thought === null ? null : action.thought + resumeNote;
          resumeNote = '';
          step = await this.runStep(lease.sandbox, mission.id, seq, { ...action, thought }, action.call as SandboxedCall, signal);
        }
        await this.deps.steps.append(step.row);
        history.push(step.row);
        if (signal.aborted) return cancelled(history.length);
        // A model is shown its failed step and may recover; a script, or a sandbox that is gone, cannot.
        if (step.error && (!policy.feedsBackErrors || step.error.code === 'ERR_SANDBOX_GONE')) {
          const error = { ...step.error, step: step.row.seq, exit_code: step.row.exit_code };
          return { status: 'failed', steps: history.length, error };
        }
      }
    } catch (error) {
      if (!(error instanceof SandboxError)) throw error;
      return { status: 'failed', steps: history.length, error: { code: error.code, message: error.message } };
    }
  }

  private async runStep(
    sandbox: Sandbox,
    missionId: string,
    seq: number,
    action: ToolAction,
    call: SandboxedCall,
    signal: AbortSignal,
  ): Promise<{ row: Step; error: ToolOutcome['error'] }> {
    const startedAt = new Date();
    let outcome: ToolOutcome;
    try {
      outcome = await runTool(sandbox, call, this.options);
    } catch (error) {
      if (!(error instanceof SandboxError)) throw error;
      const cause = signal.aborted ? { code: 'ERR_CANCELLED', message: 'the mission was cancelled while this step ran' } : error;
      outcome = { observation: null, exit_code: null, error: { code: cause.code, message: cause.message } };
    }
    const row: Step = {
      mission_id: missionId,
      seq,
      thought: action.thought,
      tool: call.tool,
      input: call.input,
      observation: outcome.observation,
      exit_code: outcome.exit_code,
      error: outcome.error?.message ?? null,
      started_at: startedAt,
      finished_at: new Date(),
    };
    return { row, error: outcome.error };
  }
}

/** What a decided approval runs: the approved call, or a refusal recorded as the step's error. */
function decidedAction(decision: Approval): Action {
  if (decision.status === 'approved') return { kind: 'tool', thought: decision.thought, call: { tool: decision.tool, input: decision.input } as PlanStep };
  const error = `rejected by a human${decision.reason ? `: ${decision.reason}` : ''}`;
  return { kind: 'invalid', thought: decision.thought, error, output: decision.input, code: 'ERR_REJECTED', tool: decision.tool };
}

/** A model reply that was no valid action, recorded as a step so the model is told what was wrong. */
function invalidStep(missionId: string, seq: number, action: Extract<Action, { kind: 'invalid' }>): { row: Step; error: ToolOutcome['error'] } {
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
  };
  return { row, error: { code: action.code ?? 'ERR_INVALID_ACTION', message: action.error } };
}

function cancelled(steps: number): MissionOutcome {
  return { status: 'cancelled', steps, error: { code: 'ERR_CANCELLED', message: 'the mission was cancelled' } };
}

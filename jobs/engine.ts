import { EventEmitter } from 'node:events';
import { SandboxError } from '../sandbox/errors';
import { StepConflictError, isInfrastructureFault, isUniqueViolation } from './faults';
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

  /**
   * Runs the mission to its end, as its job number `jobSeq`. Returns undefined when that job may not run it: the
   * mission finished, was cancelled, does not exist, or belongs to a newer job. Throws only what is not the
   * mission's fault (jobs/faults.ts); the job is then tried again and resumes after the last durable step.
   */
  async run(missionId: string, jobSeq: number, signal: AbortSignal = new AbortController().signal): Promise<MissionOutcome | undefined> {
    const started = await this.deps.progress.markRunning(missionId, jobSeq, this.options.workerId);
    if (!started) return undefined;
    const { mission, deadlineInMs } = started;
    this.emit('started', missionId);
    const stops = new MissionStops(signal, deadlineInMs);
    const lease: SandboxLease = {};
    // Cancelling, or the deadline, kills the running step at once: its sandbox goes, and the loop stops before the next step.
    const killRunningStep = () => void lease.sandbox?.destroy().catch(() => undefined);
    stops.signal.addEventListener('abort', killRunningStep, { once: true });
    try {
      const outcome = await this.loop(mission, stops, lease);
      // The outcome is recorded before the sandbox is removed: removing a gVisor container takes ~150 ms.
      // A mission waiting for approval was parked by Approvals.request and stays as it is.
      if (outcome.status !== 'waiting_approval') await this.deps.progress.finish(missionId, outcome);
      return { status: outcome.status, steps: outcome.steps, error: outcome.error };
    } finally {
      stops.dispose();
      stops.signal.removeEventListener('abort', killRunningStep);
      // A sandbox that cannot be removed now (Docker away) is left to the reaper: the outcome stands.
      if (lease.sandbox) await this.deps.sandboxes.release(lease.sandbox).catch(() => undefined);
    }
  }

  /** Whether job number `jobSeq` still owns the mission. */
  async owns(missionId: string, jobSeq: number): Promise<boolean> {
    return (await this.deps.store.get(missionId))?.job_seq === jobSeq;
  }

  /** Records that the mission failed because of a defect of ours that retrying did not get past. */
  async failForDefect(missionId: string, error: unknown): Promise<void> {
    const message = `the platform failed running this mission: ${error instanceof Error ? error.message : String(error)}`;
    await this.deps.progress.finish(missionId, { status: 'failed', error: { code: 'ERR_INTERNAL', message } });
  }

  private async loop(mission: Mission, stops: MissionStops, lease: SandboxLease): Promise<MissionOutcome & { result?: unknown }> {
    const { signal } = stops;
    const policy = this.deps.policyFor(mission);
    const history = mission.step_count > 0 ? await this.deps.store.steps(mission.id) : [];
    // Steps already recorded mean the mission ran before (a lost worker, an approval wait): its sandbox is new.
    let resumeNote = history.length > 0 ? ' (continued in a new sandbox: files of earlier steps are gone)' : '';
    const gated = new Set<string>(mission.spec.require_approval ?? []);
    try {
      for (;;) {
        if (signal.aborted) return stops.outcome(mission, history.length);
        const seq = history.length + 1;
        // A step that waited for a human runs as it was approved, or is recorded as rejected.
        const decision = gated.size > 0 ? await this.deps.approvals.get(mission.id, seq) : undefined;
        if (decision?.status === 'pending') return { status: 'waiting_approval', steps: history.length };
        let action: Action;
        try {
          action = decision ? decidedAction(decision) : await policy.next(history, signal);
        } catch (error) {
          if (signal.aborted) return stops.outcome(mission, history.length); // stopped while the policy was thinking
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
          // Stopped while the sandbox was being acquired: the abort listener had nothing to kill yet.
          if (signal.aborted) return stops.outcome(mission, history.length);
          const thought = action.thought === null ? null : action.thought + resumeNote;
          resumeNote = '';
          step = await this.runStep(lease.sandbox, mission.id, seq, { ...action, thought }, action.call as SandboxedCall, stops);
        }
        await this.deps.steps.append(step.row).catch((error: unknown) => {
          throw isUniqueViolation(error) ? new StepConflictError(mission.id, seq, { cause: error }) : error;
        });
        history.push(step.row);
        if (signal.aborted) return stops.outcome(mission, history.length);
        // A model is shown its failed step and may recover; a script, or a sandbox that is gone, cannot.
        if (step.error && (!policy.feedsBackErrors || step.error.code === 'ERR_SANDBOX_GONE')) {
          const error = { ...step.error, step: step.row.seq, exit_code: step.row.exit_code };
          return { status: 'failed', steps: history.length, error };
        }
      }
    } catch (error) {
      // The mission's own sandbox trouble fails it; Docker's trouble, or a sandbox that cannot start, does not.
      if (!(error instanceof SandboxError) || isInfrastructureFault(error)) throw error;
      return { status: 'failed', steps: history.length, error: { code: error.code, message: error.message } };
    }
  }

  private async runStep(
    sandbox: Sandbox,
    missionId: string,
    seq: number,
    action: ToolAction,
    call: SandboxedCall,
    stops: MissionStops,
  ): Promise<{ row: Step; error: ToolOutcome['error'] }> {
    const startedAt = new Date();
    let outcome: ToolOutcome;
    try {
      outcome = await runTool(sandbox, call, this.options);
    } catch (error) {
      // A sandbox lost to Docker is not the step's doing: thrown, and the step runs again in a new sandbox.
      if (!(error instanceof SandboxError) || (isInfrastructureFault(error) && !stops.signal.aborted)) throw error;
      const cause = stops.signal.aborted ? stops.stepError() : error;
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

/** What stops a mission from outside its loop: a cancel (the caller's signal), or its deadline. */
class MissionStops {
  readonly signal: AbortSignal;
  private readonly deadline = new AbortController();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(cancel: AbortSignal, deadlineInMs: number | null) {
    this.signal = AbortSignal.any([cancel, this.deadline.signal]);
    if (deadlineInMs !== null) this.timer = setTimeout(() => this.deadline.abort(), Math.max(0, deadlineInMs));
  }

  /** The mission's outcome once it was stopped. */
  outcome(mission: Mission, steps: number): MissionOutcome {
    if (!this.deadline.signal.aborted) return { status: 'cancelled', steps, error: { code: 'ERR_CANCELLED', message: 'the mission was cancelled' } };
    const message = `the mission reached its deadline of ${mission.spec.deadline_s} s`;
    return { status: 'timed_out', steps, error: { code: 'ERR_DEADLINE', message } };
  }

  /** The error of a step that was killed because the mission was stopped. */
  stepError(): { code: string; message: string } {
    return this.deadline.signal.aborted
      ? { code: 'ERR_DEADLINE', message: 'the mission reached its deadline while this step ran' }
      : { code: 'ERR_CANCELLED', message: 'the mission was cancelled while this step ran' };
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

import { SandboxError } from '../sandbox/errors';
import type { Sandbox } from '../sandbox/sandbox';
import type { CommandResult } from '../sandbox/channel';
import type { Mission, MissionError, MissionStatus, Step } from './mission';
import { TERMINAL_STATUSES } from './mission';
import type { MissionStore } from './missionStore';
import type { Action } from './policies/policy';
import { scriptedPolicy } from './policies/scripted';

type ToolAction = Extract<Action, { kind: 'tool' }>;

export interface EngineOptions {
  /** Per-step timeout of the shell tool. Default 300 s. */
  shellTimeoutMs: number;
  /** Output kept per stream and step, head and tail. Default 10 KB. */
  maxOutputBytes: number;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = { shellTimeoutMs: 300_000, maxOutputBytes: 10_240 };

export interface SandboxSource {
  start(): Promise<Sandbox>;
}

export interface MissionOutcome {
  status: MissionStatus;
  steps: number;
  error?: MissionError;
}

/** Runs missions: asks the policy for each step, runs it in the mission's own sandbox, records it, repeats. */
export class MissionEngine {
  private readonly options: EngineOptions;

  constructor(
    private readonly store: MissionStore,
    private readonly sandboxes: SandboxSource,
    options: Partial<EngineOptions> = {},
  ) {
    this.options = { ...DEFAULT_ENGINE_OPTIONS, ...options };
  }

  /** Runs the mission to its end. Returns undefined when there is no such mission. */
  async run(missionId: string, signal: AbortSignal = new AbortController().signal): Promise<MissionOutcome | undefined> {
    const mission = await this.store.get(missionId);
    if (!mission) return undefined;
    if (TERMINAL_STATUSES.has(mission.status) || !(await this.store.markRunning(missionId))) {
      return { status: mission.status, steps: mission.step_count };
    }
    const outcome = await this.loop(mission, signal);
    await this.store.finish(missionId, outcome);
    return { status: outcome.status, steps: outcome.steps, error: outcome.error };
  }

  private async loop(mission: Mission, signal: AbortSignal): Promise<MissionOutcome & { result?: unknown }> {
    const policy = scriptedPolicy(mission.spec.plan);
    const history = await this.store.steps(mission.id);
    let sandbox: Sandbox | undefined;
    try {
      for (;;) {
        const action = await policy.next(history, signal);
        if (action.kind === 'finish') return { status: 'succeeded', steps: history.length, result: action.result };
        if (history.length >= mission.spec.max_steps) {
          const message = `the mission reached its step cap of ${mission.spec.max_steps}`;
          return { status: 'failed', steps: history.length, error: { code: 'ERR_STEP_CAP', message } };
        }
        const seq = history.length + 1;
        sandbox ??= await this.sandboxes.start();
        const startedAt = new Date();
        const step = await this.runStep(sandbox, mission.id, seq, action, startedAt);
        await this.store.appendStep(step);
        history.push(step);
        if (step.error !== null) {
          const code = step.exit_code === null ? 'ERR_SANDBOX_GONE' : 'ERR_STEP_FAILED';
          return { status: 'failed', steps: seq, error: { code, message: step.error, step: seq, exit_code: step.exit_code } };
        }
      }
    } catch (error) {
      if (!(error instanceof SandboxError)) throw error;
      return { status: 'failed', steps: history.length, error: { code: error.code, message: error.message } };
    } finally {
      await sandbox?.destroy();
    }
  }

  private async runStep(
    sandbox: Sandbox,
    missionId: string,
    seq: number,
    action: ToolAction,
    startedAt: Date,
  ): Promise<Step> {
    const { call, thought } = action;
    const base = { mission_id: missionId, seq, thought, tool: call.tool, input: call.input, started_at: startedAt };
    let result: CommandResult;
    try {
      result = await sandbox.run(call.input.command, {
        timeoutMs: this.options.shellTimeoutMs,
        maxOutputBytes: this.options.maxOutputBytes,
      });
    } catch (error) {
      if (!(error instanceof SandboxError)) throw error;
      return { ...base, observation: null, exit_code: null, error: error.message, finished_at: new Date() };
    }
    return { ...base, observation: result, exit_code: result.exit_code, error: describeFailure(result), finished_at: new Date() };
  }
}

/** Why a step failed, in one line a user can act on (with the last line of stderr), or null if it did not. */
function describeFailure(result: CommandResult): string | null {
  let failure: string;
  if (result.timed_out) failure = `the step timed out after ${Math.round(result.duration_ms)} ms`;
  else if (result.signal) failure = `the step was killed by signal ${result.signal}`;
  else if (result.exit_code !== 0) failure = `the step exited with code ${result.exit_code}`;
  else return null;
  const lastError = result.stderr.trimEnd().split('\n').at(-1)?.slice(0, 200);
  return lastError ? `${failure}: ${lastError}` : failure;
}

import { EventEmitter } from 'node:events';
import { SandboxError } from '../sandbox/errors';
import { StepConflictError, isInfrastructureFault, isUniqueViolation } from '../jobs/faults';
import type { Sandbox } from '../sandbox/sandbox';
import type { Mission, MissionOutcome, ModelUsage, PlanStep, Step } from '../jobs/mission';
import { MissionSandbox, resumeNotice, type LetGoOptions, type SandboxSource, type WorkspaceEvent } from './missionSandbox';
import { HandedBackError, MissionStops } from './missionStops';
import type { Approvals } from '../store/approvals';
import type { MissionProgress, Outcome } from '../store/missionProgress';
import type { MissionStore } from '../store/missionStore';
import type { SavedWorkspaces } from '../store/savedWorkspaces';
import type { FileStore } from '../tasks/fileStore';
import type { ArtifactStore } from '../tasks/artifactStore';
import { collectArtifacts, type ArtifactLimits } from '../tasks/artifacts';
import { scoreMission } from '../scoring/scoreMission';
import type { Grade } from '../scoring/modelScorer';
import type { Score } from '../scoring/score';
import type { StepWriter } from '../store/stepWriter';
import { policyErrorCode } from './policies/modelErrors';
import type { Action, Policy } from './policies/policy';
import { decidedAction, finishStep, invalidStep, overLimitStep, tokensOf, type RecordedStep } from './stepRows';
import { runTool, type SandboxedCall, type ToolLimits, type ToolOutcome } from '../jobs/tools';

export interface EngineOptions extends ToolLimits, LetGoOptions {
  /** Recorded on each mission this engine runs. */
  workerId: string;
  /** What a mission's artifacts may hold. */
  artifacts: ArtifactLimits;
  /** Bytes a mission's steps and their events may hold; the step that passes it is the mission's last. */
  maxStoredBytes: number;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = {
  workerId: 'unnamed',
  maxStoredBytes: 32 << 20,
  shellTimeoutMs: 300_000,
  pythonTimeoutMs: 60_000,
  maxOutputBytes: 10_240,
  letGoAfterMs: 5_000,
  maxSavedBytes: 64 << 20,
  artifacts: { maxBytes: 64 << 20, maxFiles: 1_000 },
};

/** What the engine tells of the batches its missions belong to. */
export interface BatchHooks {
  /** A mission of the batch ended: the batch ends too when that was its last (store/batches/batchStore.ts). */
  settle(batchId: string): Promise<void>;
  /** A model call of one of the batch's missions used `tokens`; true when that took the batch past its token limit. */
  spend(batchId: string, tokens: number): Promise<boolean>;
  /** The batch went past its token limit: its unfinished missions are cancelled, and their workers told. */
  exhaust(batchId: string): Promise<void>;
}

export interface EngineDeps {
  store: MissionStore;
  progress: MissionProgress;
  steps: StepWriter;
  approvals: Approvals;
  policyFor: (mission: Mission) => Policy;
  sandboxes: SandboxSource;
  workspaces: SavedWorkspaces;
  /** Tenants' uploaded archives, unpacked into the workspaces of the missions that name them. */
  files: FileStore;
  /** Where the files missions leave (their `artifacts`) are kept. */
  artifacts: ArtifactStore;
  /** Calls a grader model, for model scorers. */
  grade: Grade;
  batches: BatchHooks;
}

type ToolAction = Extract<Action, { kind: 'tool' }>;

/** What may stop a run from outside: a user's cancel, and the worker handing the mission back as it shuts down. */
export interface RunSignals {
  cancel?: AbortSignal;
  handBack?: AbortSignal;
}

interface EngineEvents {
  /** A mission's files were saved and its sandbox let go, restored in a new one, or kept (they could not be saved). */
  workspace: [missionId: string, event: WorkspaceEvent];
  /** A mission is recorded as running on this worker (for pickup latency and metrics). */
  started: [missionId: string];
  /** This worker took over a mission another worker ran before (it died, or handed it back). */
  tookOver: [missionId: string, fromWorker: string];
  /** A model call chose the next action; what it used. */
  modelCalled: [usage: ModelUsage];
  /** A sandboxed step ran: its tool, whether it failed, and how long it took. */
  stepRan: [tool: string, failed: boolean, ms: number];
  /** A step of a mission is recorded (durable). */
  recorded: [missionId: string, step: Step];
  /** A mission's scorer scored it (or errored). */
  scored: [missionId: string, score: Score];
}

/** How the loop ended: the outcome to record, with the result, and the finish step when the policy finished. */
type RunOutcome = MissionOutcome & Omit<Outcome, 'status' | 'error'>;

/** A run's outcome, with what the log line about it needs. */
export interface RunResult extends MissionOutcome {
  batchId: string | null;
  /** Since the mission's first start. */
  durationMs: number;
}

const NEVER = new AbortController().signal;

/** A sandbox lost to the mission's own doing (it died with it) is none to use; Docker's trouble is thrown on. */
function noSandboxOfItsOwnFault(error: unknown): undefined {
  if (error instanceof SandboxError && !isInfrastructureFault(error)) return undefined;
  throw error;
}
/** A step still running this long after the deadline goes with its sandbox, even where artifacts wait for it. */
const DEADLINE_KILL_GRACE_MS = 5_000;
/** Past the deadline, a step's own timeout ends it after this: the sandbox stays, for the artifacts. */
const DEADLINE_STEP_MARGIN_MS = 250;
/** Step errors after which the mission's sandbox serves no further step: the mission ends with them. */
const SANDBOX_ENDED = new Set(['ERR_SANDBOX_GONE', 'ERR_SANDBOX_FLOOD']);

/** Runs missions: asks the policy for each step, runs it in the mission's own sandbox, records it, repeats. */
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
   * mission finished, was cancelled, does not exist, or belongs to a newer job. Throws HandedBackError when the
   * worker handed it back, and otherwise only what is not the mission's fault (jobs/faults.ts); the job is then
   * tried again and resumes after the last durable step.
   */
  async run(missionId: string, jobSeq: number, signals: RunSignals = {}): Promise<RunResult | undefined> {
    const started = await this.deps.progress.markRunning(missionId, jobSeq, this.options.workerId);
    if (!started) return undefined;
    const { mission, deadlineInMs, previousWorker, batchTokenLimit } = started;
    if (previousWorker && previousWorker !== this.options.workerId) this.emit('tookOver', missionId, previousWorker);
    this.emit('started', missionId);
    const stops = new MissionStops(signals.cancel ?? NEVER, signals.handBack ?? NEVER, deadlineInMs);
    // Steps already recorded mean the mission ran before (a lost worker, an approval wait): its sandbox is new,
    // with the files of its last save, if it has one.
    const savedAfter = mission.step_count > 0 ? await this.deps.workspaces.savedAfter(missionId) : undefined;
    const report = (event: WorkspaceEvent) => this.emit('workspace', missionId, event);
    const lease = new MissionSandbox(mission, this.options.workerId, { ...this.deps, report }, this.options, savedAfter);
    // A stop kills the running step at once: its sandbox goes, and the loop stops before the next step. At the
    // deadline of a mission that keeps artifacts, the step's own timeout ends it first, leaving the sandbox.
    const killRunningStep = () => lease.stop(stops.deadlineReached && mission.spec.artifacts ? DEADLINE_KILL_GRACE_MS : 0);
    stops.signal.addEventListener('abort', killRunningStep, { once: true });
    let finished = false;
    try {
      const outcome = await this.loop(mission, stops, lease, batchTokenLimit, savedAfter);
      if (mission.spec.artifacts && outcome.status !== 'waiting_approval') await this.keepArtifacts(mission, lease);
      // Scored after the artifacts are kept (the scorer's hidden files are none of them), unless cancelled.
      const { scorer } = mission.spec;
      if (scorer && outcome.status !== 'waiting_approval' && outcome.status !== 'cancelled') {
        const sandbox = () => lease.forScoring().catch(noSandboxOfItsOwnFault);
        const artifact = (path: string) => this.deps.artifacts.content(missionId, path);
        outcome.score = await scoreMission(scorer, { tenantId: mission.tenant_id, goal: mission.goal, result: outcome.result, sandbox, artifact, files: this.deps.files, grade: this.deps.grade });
        this.emit('scored', mission.id, outcome.score);
      }
      // A mission waiting for approval was parked by Approvals.request and stays as it is; a cancel was recorded
      // by whoever cancelled (the mission, or its batch), with its reason.
      if (outcome.status !== 'waiting_approval' && outcome.status !== 'cancelled') {
        await this.deps.progress.finish(missionId, outcome).catch((error: unknown) => {
          throw isUniqueViolation(error) ? new StepConflictError(missionId, outcome.steps, { cause: error }) : error;
        });
      }
      // Cancelled with a step in flight: its end is announced now that the step is recorded.
      if (outcome.status === 'cancelled') await this.deps.progress.announceCancelled(missionId);
      // A batch whose end is missed here (this process dies now) is ended by the next sweep.
      if (mission.batch_id && outcome.status !== 'waiting_approval') await this.deps.batches.settle(mission.batch_id);
      finished = outcome.status !== 'waiting_approval';
      const durationMs = Date.now() - (mission.started_at ?? new Date()).getTime();
      return { status: outcome.status, steps: outcome.steps, error: outcome.error, batchId: mission.batch_id, durationMs };
    } catch (error) {
      if (error instanceof HandedBackError) await this.deps.progress.handBack(missionId, jobSeq, this.options.workerId);
      throw error;
    } finally {
      stops.dispose();
      stops.signal.removeEventListener('abort', killRunningStep);
      // The outcome is recorded, and the worker's slot free, before the sandbox is removed.
      await lease.end(finished);
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

  private async loop(mission: Mission, stops: MissionStops, lease: MissionSandbox, batchTokenLimit: number | null, savedAfter: number | undefined): Promise<RunOutcome> {
    const { signal } = stops;
    const policy = this.deps.policyFor(mission);
    const history = mission.step_count > 0 ? await this.deps.store.steps(mission.id) : [];
    // A model is told before it chooses: what it did may rely on files that are gone. A script's trace says so.
    let notice = resumeNotice(history.length, savedAfter);
    let resumeNote = notice === undefined ? '' : savedAfter === undefined ? ' (continued in a new sandbox: files of earlier steps are gone)' : ` (continued in a new sandbox with the files saved after step ${savedAfter})`;
    const gated = new Set<string>(mission.spec.require_approval ?? []);
    const setup = mission.spec.environment?.setup ?? [];
    let tokensUsed = Number(mission.input_tokens) + Number(mission.output_tokens);
    let storedBytes = Number(mission.stored_bytes);
    let batchExhausted = false;
    const record = async (step: Step) => {
      storedBytes = await this.deps.steps.append(step).catch((error: unknown) => {
        throw isUniqueViolation(error) ? new StepConflictError(mission.id, step.seq, { cause: error }) : error;
      });
      history.push(step);
      this.emit('recorded', mission.id, step);
      tokensUsed += tokensOf(step.usage);
      // The call that takes the batch past its limit cancels the batch, this mission with it.
      if (step.usage && mission.batch_id && batchTokenLimit !== null && (await this.deps.batches.spend(mission.batch_id, tokensOf(step.usage)))) {
        await this.deps.batches.exhaust(mission.batch_id);
        batchExhausted = true;
      }
    };
    try {
      for (;;) {
        if (signal.aborted) return stops.outcome(mission, history.length);
        // Cancelled with its batch, which this mission's call took past its token limit: no call more.
        if (batchExhausted) return { status: 'cancelled', steps: history.length };
        const seq = history.length + 1;
        // The task's setup steps come first, each as given; the policy sees only the steps after them.
        const setupCall = setup.length > 0 ? setup[history.filter((step) => step.setup).length] : undefined;
        if (setupCall) {
          const outcome = await this.runSetupStep(mission, seq, setupCall, setup.length, lease, stops, record);
          if (outcome) return outcome;
          continue;
        }
        const agentSteps = setup.length > 0 ? history.filter((step) => !step.setup) : history;
        // A step that waited for a human runs as it was approved, or is recorded as rejected.
        const decision = gated.size > 0 ? await this.deps.approvals.get(mission.id, seq) : undefined;
        if (decision?.status === 'pending') return { status: 'waiting_approval', steps: history.length };
        let action: Action;
        try {
          action = decision ? decidedAction(decision) : await lease.whileWaiting(policy.next(agentSteps, signal, notice), history.length);
          notice = undefined;
        } catch (error) {
          if (signal.aborted) return stops.outcome(mission, history.length); // stopped while the policy was thinking
          const message = `the policy failed: ${error instanceof Error ? error.message : String(error)}`;
          return { status: 'failed', steps: history.length, error: { code: policyErrorCode(error), message } };
        }
        if (action.usage && !decision) this.emit('modelCalled', action.usage);
        // The call that takes the mission past its token limit is recorded, and what it chose is not done.
        const { token_limit: tokenLimit } = mission.spec;
        if (tokenLimit !== undefined && tokensUsed + tokensOf(action.usage) > tokenLimit) {
          const over = overLimitStep(mission.id, seq, action, tokenLimit, tokensUsed + tokensOf(action.usage));
          await record(over.row);
          return { status: 'failed', steps: history.length, error: { ...over.error!, step: seq } };
        }
        // A finish decided by the policy is the trace's last step, recorded with the outcome; a plan that simply
        // ran out adds none.
        const finishWith = (result: unknown, implicit = false): RunOutcome => {
          const finalStep = implicit ? undefined : finishStep(mission.id, seq, action.thought, result, action.usage);
          return { status: 'succeeded', steps: history.length + (finalStep ? 1 : 0), result, finalStep };
        };
        if (action.kind === 'finish') return finishWith(action.result, action.implicit);
        if (action.kind === 'tool' && action.call.tool === 'finish') return finishWith(action.call.input.result);
        if (agentSteps.length >= mission.spec.max_steps) {
          const message = `the mission reached its step cap of ${mission.spec.max_steps}`;
          return { status: 'failed', steps: history.length, error: { code: 'ERR_STEP_CAP', message } };
        }
        let step: RecordedStep;
        if (action.kind === 'invalid') {
          step = invalidStep(mission.id, seq, action);
        } else if (gated.has(action.call.tool) && !decision) {
          await lease.letGo(history.length);
          await this.deps.approvals.request(mission.id, seq, action.thought, action.call as SandboxedCall, action.usage);
          return { status: 'waiting_approval', steps: history.length };
        } else {
          const sandbox = await lease.forStep(signal);
          if (!sandbox || signal.aborted) return stops.outcome(mission, history.length);
          // The step starts only once claimed while the mission runs: a cancel that commits first stops it here.
          const startedAt = await this.deps.progress.claimStep(mission.id, seq);
          if (!startedAt) return { status: 'cancelled', steps: history.length };
          const thought = action.thought === null ? null : action.thought + resumeNote;
          resumeNote = '';
          step = await lease.step((held) => this.runStep(held, mission, seq, { ...action, thought }, startedAt, stops));
        }
        await record(step.row);
        if (signal.aborted) return stops.outcome(mission, history.length);
        if (storedBytes > this.options.maxStoredBytes) {
          const message = `the mission stored ${storedBytes} bytes of steps and recorded model calls, past its cap of ${this.options.maxStoredBytes} (MISSION_STORED_MB)`;
          return { status: 'failed', steps: history.length, error: { code: 'ERR_STORAGE_CAP', message, step: step.row.seq } };
        }
        // A model is shown its failed step and may recover; a script, or a sandbox that is gone or flooded, cannot.
        if (step.error && (!policy.feedsBackErrors || SANDBOX_ENDED.has(step.error.code))) {
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

  /** Collects the files the mission asked to keep from its sandbox as the mission left it, before the outcome is recorded. */
  private async keepArtifacts(mission: Mission, lease: MissionSandbox): Promise<void> {
    const sandbox = await lease.atEnd().catch(noSandboxOfItsOwnFault);
    const collected = sandbox
      ? await collectArtifacts(sandbox, mission.spec.artifacts!, this.options.artifacts)
      : { files: [], summary: { kept: 0, bytes: 0, left_out: [], error: 'the mission left no sandbox to collect from (it ran no step, or its sandbox went with a stop)' } };
    await this.deps.artifacts.keep(mission.id, collected.files, collected.summary);
  }

  /** Runs and records one of the task's setup steps; the outcome when the mission ends with it (a failed setup is ERR_SETUP). */
  private async runSetupStep(mission: Mission, seq: number, call: PlanStep, of: number, lease: MissionSandbox, stops: MissionStops, record: (step: Step) => Promise<void>): Promise<RunOutcome | undefined> {
    const sandbox = await lease.forStep(stops.signal);
    if (!sandbox || stops.signal.aborted) return stops.outcome(mission, seq - 1);
    const startedAt = await this.deps.progress.claimStep(mission.id, seq);
    if (!startedAt) return { status: 'cancelled', steps: seq - 1 };
    const action: ToolAction = { kind: 'tool', thought: `setup step ${seq} of ${of}`, call };
    const step = await lease.step((held) => this.runStep(held, mission, seq, action, startedAt, stops));
    await record({ ...step.row, setup: true });
    if (stops.signal.aborted) return stops.outcome(mission, seq);
    if (!step.error) return undefined;
    const error = { code: 'ERR_SETUP', message: `setup step ${seq} failed: ${step.error.message}`, step: seq, exit_code: step.row.exit_code };
    return { status: 'failed', steps: seq, error };
  }

  private async runStep(sandbox: Sandbox, mission: Mission, seq: number, action: ToolAction, startedAt: Date, stops: MissionStops): Promise<RecordedStep> {
    const { call } = action;
    let outcome: ToolOutcome;
    try {
      const limits = { ...this.options, capMs: stops.msLeft() + DEADLINE_STEP_MARGIN_MS };
      outcome = await runTool(sandbox, call as SandboxedCall, limits, mission.spec.tools?.find((tool) => tool.name === call.tool));
      // Ended by its timeout at the deadline: the deadline's doing, said as a kill at the deadline is.
      if (outcome.error?.code === 'ERR_STEP_TIMEOUT' && stops.deadlineReached) outcome = { ...outcome, error: stops.stepError(mission) };
    } catch (error) {
      // A sandbox lost to Docker is not the step's doing: thrown, and the step runs again in a new sandbox.
      if (!(error instanceof SandboxError) || (isInfrastructureFault(error) && !stops.signal.aborted)) throw error;
      const cause = stops.signal.aborted ? stops.stepError(mission) : error;
      outcome = { observation: null, exit_code: null, error: { code: cause.code, message: cause.message } };
    }
    const row: Step = {
      mission_id: mission.id,
      seq,
      thought: action.thought,
      tool: call.tool,
      input: call.input,
      observation: outcome.observation,
      exit_code: outcome.exit_code,
      error: outcome.error?.message ?? null,
      started_at: startedAt,
      finished_at: new Date(),
      usage: action.usage ?? null,
    };
    this.emit('stepRan', call.tool, outcome.error !== null, row.finished_at.getTime() - startedAt.getTime());
    return { row, error: outcome.error };
  }
}

import { SandboxError } from '../sandbox/errors';
import type { Claim } from '../sandbox/pool';
import type { Sandbox } from '../sandbox/sandbox';
import { restoreWorkspace, saveWorkspace } from '../sandbox/workspaceArchive';
import { BASE_ENVIRONMENT } from '../lib/environments';
import type { FileStore } from '../tasks/fileStore';
import { taskArchives, unpackTaskFiles } from '../tasks/taskFiles';
import type { Mission } from '../jobs/mission';
import type { SavedWorkspaces } from '../store/savedWorkspaces';

/** Where the engine gets a mission's sandbox, and gives it back (sandbox/pool.ts). */
export interface SandboxSource {
  /** Rejects at once when `signal` aborts before a sandbox is ready. */
  acquire(signal: AbortSignal, claim: Claim): Promise<Sandbox>;
  /** Takes the sandbox back: it is removed in the background, or reset for the tenant's next mission. */
  release(sandbox: Sandbox): void;
  /** Whether missions are waiting for a sandbox now (the pool is at its bound). */
  scarce(): boolean;
}

export interface LetGoOptions {
  /** A wait for the model longer than this lets the mission's sandbox go, while other missions wait for one. */
  letGoAfterMs: number;
  /** The largest saved workspace; a larger one is not saved, and its mission keeps its sandbox. */
  maxSavedBytes: number;
}

/** What happened to a mission's files, for logs and metrics. */
export type WorkspaceEvent =
  | { kind: 'letGo'; ms: number; bytes: number }
  | { kind: 'restored'; ms: number; bytes: number }
  | { kind: 'kept'; reason: string };

/** How long a save or a restore may take. */
const ARCHIVE_TIMEOUT_MS = 30_000;
/** How often a mission past its grace looks again whether others wait for a sandbox. */
const SCARCITY_CHECK_MS = 250;

/**
 * A mission's hold on a sandbox. It acquires one at the mission's first sandboxed step and keeps it, but lets it
 * go while the mission waits (for a model past a grace while others wait for a sandbox, for an approval) with its
 * files saved (store/savedWorkspaces.ts); the next step gets a sandbox with them restored. What a mission left
 * running does not survive this; `keep_sandbox` keeps it through model waits.
 */
export class MissionSandbox {
  private sandbox: Sandbox | undefined;
  private stepRunning = false;
  /** Whether a save of this mission's files may exist, to drop when the mission ends. */
  private hasSave: boolean;
  /** Whether its first sandbox gets the task's files (environment.files): a mission that has not begun. */
  private unpackTaskFiles: boolean;
  /** Whether this run ever held a sandbox (or has saved files to restore one from). */
  private acquired: boolean;

  /** `restoreFrom`: the step after which the mission's files were saved, when a new sandbox must get them. */
  constructor(
    private readonly mission: Mission,
    private readonly workerId: string,
    private readonly deps: { sandboxes: SandboxSource; workspaces: SavedWorkspaces; files: FileStore; report(event: WorkspaceEvent): void },
    private readonly options: LetGoOptions,
    private restoreFrom: number | undefined,
  ) {
    this.hasSave = restoreFrom !== undefined;
    this.unpackTaskFiles = mission.step_count === 0 && (mission.spec.environment?.files.length ?? 0) > 0;
    this.acquired = restoreFrom !== undefined;
  }

  /**
   * The sandbox for the next step: the one held, or a new one with the saved files in (or, for a mission that has
   * not begun, its task's files). Undefined when `signal` aborted.
   */
  async forStep(signal: AbortSignal): Promise<Sandbox | undefined> {
    if (this.sandbox) return this.sandbox;
    const claim: Claim = { tenant: this.mission.tenant_id, fresh: this.mission.spec.fresh_sandbox, environment: environmentOf(this.mission) };
    // A stop while the sandbox is being acquired ends the wait at once (a cold start can take seconds).
    const sandbox = await this.deps.sandboxes.acquire(signal, claim).catch((error: unknown) => {
      if (signal.aborted) return undefined;
      throw error;
    });
    if (!sandbox) return undefined;
    this.sandbox = sandbox;
    this.acquired = true;
    if (this.restoreFrom !== undefined) {
      const archive = await this.deps.workspaces.archive(this.mission.id);
      const startedAt = performance.now();
      if (archive) await restoreWorkspace(sandbox, archive, ARCHIVE_TIMEOUT_MS);
      this.restoreFrom = undefined;
      if (archive) this.deps.report({ kind: 'restored', ms: performance.now() - startedAt, bytes: archive.length });
    } else if (this.unpackTaskFiles) {
      // Before anything runs in it; a file that cannot be unpacked fails the mission (ERR_FILES) before its first step.
      await unpackTaskFiles(sandbox, await taskArchives(this.deps.files, this.mission.tenant_id, this.mission.spec.environment!.files));
      this.unpackTaskFiles = false;
    }
    return sandbox;
  }

  /** Runs a step in the held sandbox; a stop meanwhile kills it (see stop()). */
  async step<T>(run: (sandbox: Sandbox) => Promise<T>): Promise<T> {
    this.stepRunning = true;
    try {
      return await run(this.sandbox!);
    } finally {
      this.stepRunning = false;
    }
  }

  /**
   * The mission was stopped: a running step is killed, with its sandbox, at once or, given a grace, only if it
   * still runs by then (a step whose own timeout ends it at the deadline leaves the sandbox for the artifacts).
   */
  stop(graceMs = 0): void {
    const sandbox = this.sandbox;
    if (!this.stepRunning || !sandbox) return;
    const destroy = () => void sandbox.destroy().catch(() => undefined);
    if (graceMs === 0) return destroy();
    setTimeout(() => this.stepRunning && this.sandbox === sandbox && destroy(), graceMs).unref();
  }

  /**
   * The sandbox holding the mission's files as they are at its end: the one held, or a new one with its last
   * save restored; undefined when it has none (it never ran a step, or its sandbox died with it).
   */
  async atEnd(): Promise<Sandbox | undefined> {
    if (this.sandbox) return this.sandbox.alive ? this.sandbox : undefined;
    if (this.restoreFrom === undefined) return undefined;
    return this.forStep(AbortSignal.timeout(ARCHIVE_TIMEOUT_MS * 2));
  }

  /**
   * The sandbox to score the mission in: as it left it (atEnd), or, for a mission that never needed one, a new
   * one with the task's files; undefined when its sandbox died with it.
   */
  async forScoring(): Promise<Sandbox | undefined> {
    if (this.acquired) return this.atEnd();
    return this.forStep(AbortSignal.timeout(ARCHIVE_TIMEOUT_MS * 2));
  }

  /**
   * Waits for `waiting` (a model choosing the next step). Past the grace, once other missions wait for a
   * sandbox, saves this mission's files after step `afterSeq` and lets its sandbox go.
   */
  async whileWaiting<T>(waiting: Promise<T>, afterSeq: number): Promise<T> {
    if (!this.sandbox || this.mission.spec.keep_sandbox) return waiting;
    const answered = waiting.then(
      () => true,
      () => true,
    );
    let timer: NodeJS.Timeout | undefined;
    const after = (ms: number) => new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    let done = await Promise.race([answered, after(this.options.letGoAfterMs)]);
    while (!done && !this.deps.sandboxes.scarce()) done = await Promise.race([answered, after(SCARCITY_CHECK_MS)]);
    clearTimeout(timer);
    if (!done) await this.letGo(afterSeq);
    return waiting;
  }

  /** The run ended: the sandbox goes back to the pool, and a mission that finished has its saved files dropped. */
  async end(finished: boolean): Promise<void> {
    // Removing a gVisor container takes ~150 ms or more: the pool does it in the background.
    if (this.sandbox) this.deps.sandboxes.release(this.sandbox);
    this.sandbox = undefined;
    // One left behind (Postgres away just now) goes with its mission, by retention.
    if (finished && this.hasSave) await this.deps.workspaces.drop(this.mission.id).catch(() => undefined);
  }

  /**
   * Saves the files as they are after step `afterSeq` and lets the sandbox go (past a model's grace, or before an
   * approval wait). When they cannot be saved, the mission keeps its sandbox.
   */
  async letGo(afterSeq: number): Promise<void> {
    const sandbox = this.sandbox;
    if (!sandbox?.alive) return;
    const startedAt = performance.now();
    let archive: Buffer;
    try {
      archive = await saveWorkspace(sandbox, this.options.maxSavedBytes, ARCHIVE_TIMEOUT_MS);
    } catch (error) {
      if (!(error instanceof SandboxError)) throw error;
      return this.deps.report({ kind: 'kept', reason: error.message });
    }
    // Not kept: the mission is another worker's now, or no longer running.
    if (!(await this.deps.workspaces.save(this.mission.id, afterSeq, archive, this.workerId))) return;
    this.hasSave = true;
    this.sandbox = undefined;
    this.restoreFrom = afterSeq;
    this.deps.sandboxes.release(sandbox);
    this.deps.report({ kind: 'letGo', ms: performance.now() - startedAt, bytes: archive.length });
  }
}

/** The environment a mission's sandbox runs, as the pool names it: undefined for the base one. */
export function environmentOf(mission: Pick<Mission, 'spec'>): string | undefined {
  const name = mission.spec.environment?.name;
  return name === undefined || name === BASE_ENVIRONMENT ? undefined : name;
}

/**
 * What a model is told before it chooses, when its mission continues in a new sandbox after `steps` steps: its
 * files as saved after step `savedAfter`, or none.
 */
export function resumeNotice(steps: number, savedAfter: number | undefined): string | undefined {
  if (steps === 0 || savedAfter === steps) return undefined;
  if (savedAfter === undefined) return `This mission continues in a new sandbox: files written by steps 1-${steps} are gone; make them again if you need them.`;
  const lost = savedAfter + 1 === steps ? `step ${steps}` : `steps ${savedAfter + 1}-${steps}`;
  return `This mission continues in a new sandbox with its files as they were after step ${savedAfter}: changes made by ${lost} may be missing; check, and make them again if you need them.`;
}

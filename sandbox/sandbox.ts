import type Docker from 'dockerode';
import type { CommandResult, FileContent, RunOptions, StepChannel } from './channel';
import type { DockerEvents } from './dockerEvents';
import { SandboxGoneError, SandboxLostError, SandboxRequestError } from './errors';
import { workspaceRelative } from './paths';

const EXPLAIN_WAIT_MS = 2_000;
const OOM_EVENT_WAIT_MS = 500;

/**
 * One running sandbox. It serves one mission and is destroyed afterwards, or, where the pool reuses sandboxes,
 * is reset and serves the same tenant's next missions (sandbox/pool.ts).
 */
export class Sandbox {
  private destroyed: Promise<void> | undefined;
  private killed: Promise<void> | undefined;
  private readonly startedAt = Date.now();
  private tenantId: string | undefined;
  private served = 0;
  private spoiledBecause: string | undefined;

  constructor(
    private readonly container: Docker.Container,
    private readonly channel: StepChannel,
    private readonly events: DockerEvents,
    /** The environment whose image it runs (undefined: the base one). */
    readonly environment?: string,
  ) {}

  get id(): string {
    return this.container.id;
  }

  /** False once the sandbox's main process has gone or the sandbox was destroyed. */
  get alive(): boolean {
    return !this.channel.closed;
  }

  /** The tenant whose missions it served, once it served one. */
  get tenant(): string | undefined {
    return this.tenantId;
  }

  /** Missions it was lent to. */
  get missions(): number {
    return this.served;
  }

  get ageMs(): number {
    return Date.now() - this.startedAt;
  }

  /**
   * Why it may serve no other mission, whatever a reset says: a step timed out (the channel killed what it could
   * see in a hurry), or a request failed in a way that says the sandbox itself is in trouble. Undefined if none.
   */
  get spoiled(): string | undefined {
    return this.spoiledBecause ?? (this.channel.closed ? 'it is gone' : undefined);
  }

  /** Marks it as serving a mission of `tenant`. A sandbox never serves two tenants. */
  lendTo(tenant: string): void {
    if (this.tenantId !== undefined && this.tenantId !== tenant) throw new Error(`sandbox ${this.id} served another tenant`);
    this.tenantId = tenant;
    this.served++;
  }

  /**
   * Makes it as it started for the same tenant's next mission (channel.c's reset: every process killed, scratch
   * directories emptied, all verified). Rejects when it could not; it is spoiled then.
   */
  async reset(timeoutMs: number): Promise<void> {
    if (this.spoiled) throw new SandboxGoneError(`it cannot be reset: ${this.spoiled}`);
    await this.channel.reset(timeoutMs).catch((error: Error) => {
      this.spoiledBecause = `its reset failed: ${error.message}`;
      throw error;
    });
  }

  /** Called once when the sandbox stops answering, for whatever reason. */
  onGone(listener: (reason: Error) => void): void {
    this.channel.onClose(listener);
  }

  /** Runs `command` in a fresh `sh -c` in /workspace. A dead sandbox rejects with SandboxGoneError saying why. */
  async run(command: string, options: RunOptions): Promise<CommandResult> {
    const result = await this.explained(this.channel.run(command, options));
    if (result.timed_out) this.spoiledBecause = 'a step timed out';
    return result;
  }

  /** Reads a file under /workspace (`a.txt` or `/workspace/a.txt`); it may not leave it or pass a symbolic link. */
  async readFile(path: string, maxBytes: number): Promise<FileContent> {
    return this.explained(this.channel.readFile(workspaceRelative(path), maxBytes));
  }

  /** Writes a file under /workspace, creating directories; the same confinement as readFile. */
  async writeFile(path: string, data: Buffer): Promise<void> {
    return this.explained(this.channel.writeFile(workspaceRelative(path), data));
  }

  /**
   * Kills every process in the sandbox at once (SIGKILL to the container: gVisor's kernel goes with its init, and
   * every process with it); destroy() removes the stopped container after. Safe to call more than once.
   */
  kill(): Promise<void> {
    this.killed ??= (async () => {
      this.channel.close(new SandboxGoneError('it was released'));
      await this.container.kill({ signal: 'SIGKILL' }).catch((error: { statusCode?: number }) => {
        // 404: already removed; 409: not running (it died, or a removal got there first).
        if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
      });
    })();
    return this.killed;
  }

  /** Removes the container. Safe to call more than once. */
  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      this.channel.close(new SandboxGoneError('it was destroyed'));
      this.events.forget(this.container.id);
      await this.container.remove({ force: true }).catch((error: { statusCode?: number }) => {
        // 404: already gone; 409: a removal (the reaper's, Docker's own) is already under way.
        if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
      });
    })();
    return this.destroyed;
  }

  private async explained<T>(request: Promise<T>): Promise<T> {
    try {
      return await request;
    } catch (error) {
      if (!(error instanceof SandboxRequestError)) this.spoiledBecause ??= `a request failed: ${(error as Error).message}`;
      if (error instanceof SandboxGoneError && !this.destroyed) throw await this.explain(error);
      throw error;
    }
  }

  /**
   * Turns "the channel went away" into the reason Docker knows: out of memory, gVisor stopping, a kill from
   * inside (the mission's doing); or a kill through Docker, or Docker itself gone (not the mission's doing).
   */
  private async explain(error: SandboxGoneError): Promise<SandboxGoneError | SandboxLostError> {
    // The stream can end a moment before Docker records the exit: wait for that, briefly.
    const stopped = this.container.wait({ condition: 'not-running' }).catch(() => undefined);
    await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, EXPLAIN_WAIT_MS).unref())]);
    let state: Docker.ContainerInspectInfo['State'];
    try {
      state = (await this.container.inspect()).State;
    } catch (cause) {
      return new SandboxLostError('Docker cannot say what happened to it (the daemon is away or restarting)', { cause });
    }
    if (state.Running) return error;
    if (this.events.killedFromOutside(this.id)) {
      return new SandboxLostError('it was stopped through Docker (the daemon restarting, or an operator)', { cause: error });
    }
    // The OOM event can land just after the exit: wait for it a moment before calling it a plain SIGKILL.
    if (state.ExitCode === 137 && !state.OOMKilled && !this.events.oomKilled(this.id)) {
      await new Promise((resolve) => setTimeout(resolve, OOM_EVENT_WAIT_MS));
    }
    const oomKilled = state.OOMKilled || this.events.oomKilled(this.id);
    return new SandboxGoneError(stopReason(oomKilled, state.ExitCode), { cause: error });
  }
}

function stopReason(oomKilled: boolean, exitCode: number): string {
  if (oomKilled) return 'out of memory (the memory limit was reached)';
  // Under the ptrace platform every sandboxed process costs gVisor a host process; when the pids limit is
  // reached gVisor's own runtime cannot start a thread and exits with Go's fatal-error status, 2.
  if (exitCode === 2) return 'gVisor stopped (exit code 2): most often the process limit was reached, e.g. by a fork bomb';
  if (exitCode === 137) return 'its main process was killed (SIGKILL)';
  if (exitCode > 128) return `its main process was killed by signal ${exitCode - 128}`;
  return `its main process exited with code ${exitCode}`;
}

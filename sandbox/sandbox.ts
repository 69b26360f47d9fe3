import type Docker from 'dockerode';
import type { CommandResult, FileContent, RunOptions, StepChannel } from './channel';
import { SandboxGoneError } from './errors';
import { workspaceRelative } from './paths';

/** One running sandbox. It serves one mission and is destroyed afterwards. */
export class Sandbox {
  private destroyed: Promise<void> | undefined;

  constructor(
    private readonly container: Docker.Container,
    private readonly channel: StepChannel,
  ) {}

  get id(): string {
    return this.container.id;
  }

  /** False once the sandbox's main process has gone or the sandbox was destroyed. */
  get alive(): boolean {
    return !this.channel.closed;
  }

  /** Called once when the sandbox stops answering, for whatever reason. */
  onGone(listener: (reason: Error) => void): void {
    this.channel.onClose(listener);
  }

  /** Runs `command` in a fresh `sh -c` in /workspace. A dead sandbox rejects with SandboxGoneError saying why. */
  run(command: string, options: RunOptions): Promise<CommandResult> {
    return this.explained(this.channel.run(command, options));
  }

  /** Reads a file under /workspace (`a.txt` or `/workspace/a.txt`); it may not leave it or pass a symbolic link. */
  async readFile(path: string, maxBytes: number): Promise<FileContent> {
    return this.explained(this.channel.readFile(workspaceRelative(path), maxBytes));
  }

  /** Writes a file under /workspace, creating directories; the same confinement as readFile. */
  async writeFile(path: string, data: Buffer): Promise<void> {
    return this.explained(this.channel.writeFile(workspaceRelative(path), data));
  }

  /** Removes the container. Safe to call more than once. */
  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      this.channel.close(new SandboxGoneError('it was destroyed'));
      await this.container.remove({ force: true }).catch((error: { statusCode?: number }) => {
        if (error.statusCode !== 404) throw error;
      });
    })();
    return this.destroyed;
  }

  private async explained<T>(request: Promise<T>): Promise<T> {
    try {
      return await request;
    } catch (error) {
      if (error instanceof SandboxGoneError && !this.destroyed) throw await this.explain(error);
      throw error;
    }
  }

  /** Turns "the channel went away" into the reason Docker knows: out of memory, or the exit code. */
  private async explain(error: SandboxGoneError): Promise<SandboxGoneError> {
    const state = await this.container
      .inspect()
      .then((info) => info.State)
      .catch(() => undefined);
    if (state?.OOMKilled) return new SandboxGoneError('out of memory (the memory limit was reached)', { cause: error });
    if (state && !state.Running) {
      return new SandboxGoneError(`its main process exited with code ${state.ExitCode}`, { cause: error });
    }
    return error;
  }
}

import type Docker from 'dockerode';
import type { CommandResult, RunOptions, StepChannel } from './channel';
import { SandboxGoneError } from './errors';

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

  /** Runs `command` in a fresh `sh -c` in /workspace. A dead sandbox rejects with SandboxGoneError saying why. */
  async run(command: string, options: RunOptions): Promise<CommandResult> {
    try {
      return await this.channel.run(command, options);
    } catch (error) {
      if (error instanceof SandboxGoneError) throw await this.explain(error);
      throw error;
    }
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

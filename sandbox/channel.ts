import { PassThrough, type Duplex } from 'node:stream';
import { SandboxGoneError } from './errors';

/** What one command run in a sandbox produced. Output is head-and-tail truncated inside the sandbox. */
export interface CommandResult {
  exit_code: number;
  timed_out: boolean;
  /** The signal that ended the command, if one did. */
  signal: number | null;
  stdout: string;
  stderr: string;
  /** Full sizes before truncation. */
  stdout_bytes: number;
  stderr_bytes: number;
  duration_ms: number;
}

export interface RunOptions {
  timeoutMs: number;
  maxOutputBytes: number;
}

type Reply = Partial<CommandResult> & { id: number; error?: string; ready?: boolean };
type Waiter = { resolve(reply: Reply): void; reject(error: Error): void };

/** How long past a command's own timeout we wait for the channel before declaring the sandbox gone. */
const REPLY_GRACE_MS = 5_000;

/**
 * The host side of sandbox/channel.py, over the container's attached stdio: one JSON line per request and
 * per reply. Costs one write and one read per step instead of a `docker exec` round trip.
 */
export class StepChannel {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  private buffered = '';
  private closedBecause: Error | undefined;

  constructor(
    private readonly stream: Duplex,
    demux: (stream: Duplex, stdout: PassThrough, stderr: PassThrough) => void,
  ) {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    demux(stream, stdout, stderr);
    stdout.setEncoding('utf8');
    stdout.on('data', (chunk: string) => this.receive(chunk));
    stderr.resume(); // the channel's own stderr is diagnostics only (python tracebacks)
    stream.on('end', () => this.close(new SandboxGoneError('its main process exited')));
    stream.on('close', () => this.close(new SandboxGoneError('its main process exited')));
    stream.on('error', (error) => this.close(new SandboxGoneError(error.message, { cause: error })));
  }

  /** Resolves once the channel process inside answers, i.e. the sandbox is ready for steps. */
  async ready(timeoutMs: number): Promise<void> {
    await this.request({}, timeoutMs);
  }

  async run(command: string, options: RunOptions): Promise<CommandResult> {
    const reply = await this.request(
      { command, timeout_ms: options.timeoutMs, max_output: options.maxOutputBytes },
      options.timeoutMs + REPLY_GRACE_MS,
    );
    if (reply.error) throw new SandboxGoneError(`the step channel failed: ${reply.error}`);
    const { id: _id, error: _error, ready: _ready, ...result } = reply;
    return result as CommandResult;
  }

  /** Fails every waiting request with `reason`; later requests fail at once. */
  close(reason: Error): void {
    if (this.closedBecause) return;
    this.closedBecause = reason;
    for (const waiter of this.waiting.values()) waiter.reject(reason);
    this.waiting.clear();
    this.stream.destroy();
  }

  private request(body: object, timeoutMs: number): Promise<Reply> {
    if (this.closedBecause) return Promise.reject(this.closedBecause);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new SandboxGoneError(`no answer from the step channel within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (reply) => (clearTimeout(timer), resolve(reply)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      this.stream.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      let reply: Reply;
      try {
        reply = JSON.parse(line) as Reply;
      } catch {
        // Only mission code could garble the channel (it runs as the same user): that ends this sandbox only.
        this.close(new SandboxGoneError('the step channel sent a garbled reply'));
        return;
      }
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      waiter?.resolve(reply);
    }
  }
}

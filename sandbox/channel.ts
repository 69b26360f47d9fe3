import { randomBytes } from 'node:crypto';
import { PassThrough, type Duplex } from 'node:stream';
import { bytesToText, type StoredBytes } from '../lib/text';
import { ByteQueue } from './byteQueue';
import { SandboxFloodError, SandboxGoneError, SandboxRequestError } from './errors';

/**
 * What one command run in a sandbox produced. Output is head-and-tail truncated inside the sandbox, cut between
 * UTF-8 characters. Output that is not UTF-8 text, or holds NUL bytes, is shown as text with U+FFFD in place
 * of what is not, and kept exactly in `stdout_base64` / `stderr_base64`.
 */
export interface CommandResult {
  exit_code: number;
  timed_out: boolean;
  /** The signal that ended the command, if one did. */
  signal: number | null;
  stdout: string;
  stderr: string;
  /** Only when stdout is not exact text: the bytes themselves. */
  stdout_base64?: string;
  stderr_base64?: string;
  /** Full sizes before truncation. */
  stdout_bytes: number;
  stderr_bytes: number;
  duration_ms: number;
}

export interface RunOptions {
  timeoutMs: number;
  /** Bytes kept per stream: the first and last half of this. */
  maxOutputBytes: number;
  /** Given to the command on its stdin; otherwise stdin is /dev/null. */
  stdin?: Buffer;
}

export interface FileContent {
  data: Buffer;
  /** The file's full size; more than data.length when it was cut at the limit. */
  size: number;
}

type Reply =
  | { kind: 'ok' }
  | { kind: 'done'; result: CommandResult }
  | { kind: 'data'; file: FileContent }
  | { kind: 'wiped'; secret: string };
type Waiter = { resolve(reply: Reply): void; reject(error: Error): void; maxPayloadBytes: number };

/** How long past a command's own timeout we wait for the channel before declaring the sandbox gone. */
const REPLY_GRACE_MS = 5_000;
const FILE_TIMEOUT_MS = 30_000;
/** The longest header line channel.c writes is WIPED's (a 64-digit secret); anything far longer is a flood. */
const MAX_HEADER_BYTES = 256;
/** channel.c's error messages fit in 512 bytes. */
const MAX_ERROR_BYTES = 512;
/** What the truncation marker adds to a stream's kept bytes ("[... N bytes omitted ...]" and two newlines). */
const MARKER_BYTES = 64;

/**
 * The host side of sandbox/image/channel.c, over the container's attached stdio: a header line and its
 * payloads per request and per reply (see the protocol at the top of channel.c). One write and one read per
 * step instead of a `docker exec` round trip.
 */
export class StepChannel {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiter>();
  /** Bytes of the channel's stdout not parsed yet: at most a header line and the payload its request allows. */
  private readonly unparsed = new ByteQueue();
  private header: Header | undefined;
  private closedBecause: Error | undefined;
  private readonly closeListeners: ((reason: Error) => void)[] = [];
  /** Known only to us and the channel process: its answer to a reset tells it (see reset() in channel.c). */
  private secret = newSecret();

  constructor(
    private readonly stream: Duplex,
    demux: (stream: Duplex, stdout: PassThrough, stderr: PassThrough) => void,
  ) {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    demux(stream, stdout, stderr);
    stdout.on('data', (chunk: Buffer) => this.receive(chunk));
    stderr.resume(); // the channel writes nothing there; drained so a misbehaving sandbox cannot stall the stream
    stream.on('end', () => this.close(new SandboxGoneError('its main process exited')));
    stream.on('close', () => this.close(new SandboxGoneError('its main process exited')));
    stream.on('error', (error) => this.close(new SandboxGoneError(error.message, { cause: error })));
  }

  get closed(): boolean {
    return this.closedBecause !== undefined;
  }

  onClose(listener: (reason: Error) => void): void {
    if (this.closedBecause) listener(this.closedBecause);
    else this.closeListeners.push(listener);
  }

  /** Resolves once the channel process inside answers, i.e. the sandbox is ready for steps. */
  async ready(timeoutMs: number): Promise<void> {
    await this.request((id) => [`PING ${id} ${this.secret}`], timeoutMs, MAX_ERROR_BYTES);
  }

  async run(command: string, options: RunOptions): Promise<CommandResult> {
    const commandBytes = Buffer.from(command);
    const stdin = options.stdin ?? Buffer.alloc(0);
    const reply = await this.request(
      (id) => [`RUN ${id} ${options.timeoutMs} ${options.maxOutputBytes} ${commandBytes.length} ${stdin.length}`, commandBytes, stdin],
      options.timeoutMs + REPLY_GRACE_MS,
      Math.max(2 * (options.maxOutputBytes + MARKER_BYTES), MAX_ERROR_BYTES),
    );
    if (reply.kind !== 'done') throw new SandboxGoneError('the step channel answered out of turn');
    return reply.result;
  }

  /** Reads a file under /workspace (path relative to it), at most maxBytes of it. */
  async readFile(path: string, maxBytes: number): Promise<FileContent> {
    const pathBytes = Buffer.from(path);
    const reply = await this.request((id) => [`READ ${id} ${maxBytes} ${pathBytes.length}`, pathBytes], FILE_TIMEOUT_MS, Math.max(maxBytes, MAX_ERROR_BYTES));
    if (reply.kind !== 'data') throw new SandboxGoneError('the step channel answered out of turn');
    return reply.file;
  }

  /** Writes a file under /workspace (path relative to it), creating its directories. */
  async writeFile(path: string, data: Buffer): Promise<void> {
    const pathBytes = Buffer.from(path);
    await this.request((id) => [`WRITE ${id} ${pathBytes.length} ${data.length}`, pathBytes, data], FILE_TIMEOUT_MS, MAX_ERROR_BYTES);
  }

  /**
   * Makes the sandbox as it started (channel.c's reset): every other process killed, the scratch directories
   * emptied, all of it verified. Rejects when it could not be (the channel then exits), or when the answer does
   * not tell the secret: then a process of the last mission took the request, and the channel is closed.
   */
  async reset(timeoutMs: number): Promise<void> {
    const next = newSecret();
    const reply = await this.request((id) => [`RESET ${id} ${next}`], timeoutMs, MAX_ERROR_BYTES);
    if (reply.kind !== 'wiped' || reply.secret !== this.secret) {
      const error = new SandboxGoneError('the reset was answered without its secret: a process of the last mission forged it');
      this.close(error);
      throw error;
    }
    this.secret = next;
  }

  /** Fails every waiting request with `reason`; later requests fail at once. */
  close(reason: Error): void {
    if (this.closedBecause) return;
    this.closedBecause = reason;
    for (const waiter of this.waiting.values()) waiter.reject(reason);
    this.waiting.clear();
    this.stream.destroy();
    for (const listener of this.closeListeners.splice(0)) listener(reason);
  }

  /** Sends a request; its reply may carry at most `maxPayloadBytes`, or the sandbox is flooding its channel. */
  private request(frame: (id: number) => [string, ...Buffer[]], timeoutMs: number, maxPayloadBytes: number): Promise<Reply> {
    if (this.closedBecause) return Promise.reject(this.closedBecause);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new SandboxGoneError(`no answer from the step channel within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        maxPayloadBytes,
        resolve: (reply) => (clearTimeout(timer), resolve(reply)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      const [header, ...payloads] = frame(id);
      this.stream.write(Buffer.concat([Buffer.from(`${header}\n`), ...payloads]));
    });
  }

  private receive(chunk: Buffer): void {
    if (this.closedBecause) return;
    this.unparsed.push(chunk);
    for (;;) {
      if (!this.header) {
        const line = this.unparsed.takeLine(MAX_HEADER_BYTES);
        if (line === undefined) return;
        if (line === 'too long') return this.close(new SandboxFloodError(`a reply header ran past ${MAX_HEADER_BYTES} bytes without its newline`));
        const header = parseHeader(line.toString('latin1').split(' '));
        // Only mission code could garble the channel (it runs as the same user): that ends this sandbox only.
        if (header === 'garbled') return this.close(new SandboxGoneError('the step channel sent a garbled reply'));
        const waiter = this.waiting.get(header.id);
        const allowed = waiter?.maxPayloadBytes ?? 0;
        if (header.payloadBytes > allowed) {
          return this.close(new SandboxFloodError(`a reply declared ${header.payloadBytes} bytes where its request allows ${allowed}`));
        }
        // Nothing asked for it: a step's process wrote it (it can open the channel's stdout under gVisor).
        if (!waiter) return this.close(new SandboxGoneError('the step channel sent a reply nobody asked for'));
        this.header = header;
      }
      const payload = this.unparsed.take(this.header.payloadBytes);
      if (!payload) return;
      const { id, decode } = this.header;
      this.header = undefined;
      const waiter = this.waiting.get(id);
      // Its request timed out while the payload came in: the channel is out of step with us.
      if (!waiter) return this.close(new SandboxGoneError('the step channel answered a request that had timed out'));
      this.waiting.delete(id);
      const decoded = decode(payload);
      if ('error' in decoded) waiter.reject(new SandboxRequestError(decoded.error));
      else waiter.resolve(decoded);
    }
  }
}

/** A reply's header line, parsed: whose it is, how many payload bytes follow, and how to read them. */
interface Header {
  id: number;
  payloadBytes: number;
  decode(payload: Buffer): Reply | { error: string };
}

function parseHeader([verb, ...fields]: string[]): Header | 'garbled' {
  if (verb === 'WIPED' && fields.length === 2) {
    const id = Number(fields[0]);
    return Number.isSafeInteger(id) ? { id, payloadBytes: 0, decode: () => ({ kind: 'wiped', secret: fields[1]! }) } : 'garbled';
  }
  const n = fields.map(Number);
  if (n.some((value) => !Number.isSafeInteger(value) || value < 0)) return 'garbled';
  const [id] = n;
  if (id === undefined) return 'garbled';
  if (verb === 'OK' && n.length === 1) return { id, payloadBytes: 0, decode: () => ({ kind: 'ok' }) };
  if (verb === 'ERR' && n.length === 2) return { id, payloadBytes: n[1]!, decode: (payload) => ({ error: payload.toString() }) };
  if (verb === 'DATA' && n.length === 3) {
    return { id, payloadBytes: n[2]!, decode: (payload) => ({ kind: 'data', file: { size: n[1]!, data: Buffer.from(payload) } }) };
  }
  if (verb === 'DONE' && n.length === 9) {
    const [, exitCode, timedOut, signal, stdoutBytes, stderrBytes, durationUs, stdoutLength, stderrLength] = n as number[];
    const decode = (payload: Buffer): Reply => {
      const [stdout, stderr] = [payload.subarray(0, stdoutLength), payload.subarray(stdoutLength)].map(bytesToText) as [StoredBytes, StoredBytes];
      const result: CommandResult = {
        exit_code: exitCode!,
        timed_out: timedOut === 1,
        signal: signal || null,
        stdout: stdout.text,
        stderr: stderr.text,
        ...(stdout.base64 !== undefined && { stdout_base64: stdout.base64 }),
        ...(stderr.base64 !== undefined && { stderr_base64: stderr.base64 }),
        stdout_bytes: stdoutBytes!,
        stderr_bytes: stderrBytes!,
        duration_ms: durationUs! / 1000,
      };
      return { kind: 'done', result };
    };
    return { id, payloadBytes: stdoutLength! + stderrLength!, decode };
  }
  return 'garbled';
}

function newSecret(): string {
  return randomBytes(32).toString('hex');
}

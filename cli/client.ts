import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, EXIT } from './exitCodes';

export interface ClientOptions {
  url: string;
  apiKey?: string;
  /** Each request on stderr: method, path, status and time. Never the key. */
  verbose: boolean;
  /** Tries after the first, on network errors, 429 and 5xx. Default 4. */
  retries?: number;
}

export interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** A problem the API answered with (RFC 9457), as one line. */
export function problemLine(body: unknown): string {
  const problem = body as { title?: string; detail?: string; errors?: { path: string; message: string }[] } | null;
  const errors = problem?.errors?.map((error) => `${error.path}: ${error.message}`).join('; ');
  return [problem?.title, errors ?? problem?.detail].filter(Boolean).join(' ') || 'no details';
}

/** The mission API over HTTP: JSON in and out, retried while the server is away, busy or limiting. */
export class ApiClient {
  private readonly retries: number;

  constructor(private readonly options: ClientOptions) {
    this.retries = options.retries ?? 4;
  }

  /** A request whose answer is returned whatever its status, after retries of what is worth retrying. */
  async request<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer<T>> {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let response: Response;
      try {
        response = await fetch(new URL(path, this.options.url), {
          method,
          headers: { ...this.auth(), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        this.log(`${method} ${path} -> ${(error as Error).cause ? String((error as { cause: Error }).cause.message) : (error as Error).message}`);
        if (attempt < this.retries) {
          await sleep(250 * 2 ** attempt);
          continue;
        }
        throw new CliError(`cannot reach ${this.options.url}: ${((error as Error).cause as Error | undefined)?.message ?? (error as Error).message}`, EXIT.server);
      }
      this.log(`${method} ${path} -> ${response.status} (${Math.round(performance.now() - started)} ms)`);
      const retryable = response.status === 429 || response.status >= 500;
      if (retryable && attempt < this.retries) {
        const after = Number(response.headers.get('retry-after'));
        await sleep(Number.isFinite(after) && after > 0 ? Math.min(after, 30) * 1_000 : 250 * 2 ** attempt);
        continue;
      }
      const text = await response.text();
      const parsed = text ? (JSON.parse(text) as T) : (undefined as T);
      return { status: response.status, body: parsed, headers: response.headers };
    }
  }

  /** A request that must succeed: anything else ends the command (3 for the server's refusals, 2 for ours). */
  async expect<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    const answer = await this.request<T>(method, path, body, headers);
    if (answer.status < 400) return answer.body;
    const exitCode = answer.status === 400 || answer.status === 404 || answer.status === 409 || answer.status === 422 ? EXIT.usage : EXIT.server;
    throw new CliError(`${method} ${path}: ${answer.status} ${problemLine(answer.body)}`, exitCode);
  }

  /** Every item of a paged list (`{data, next_cursor}`), following the cursors from `path` to the last page. */
  async *pages<T>(path: string): AsyncGenerator<T> {
    let cursor: string | null = null;
    do {
      const page: { data: T[]; next_cursor: string | null } = await this.expect('GET', cursor ? `${path}${path.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(cursor)}` : path);
      yield* page.data;
      cursor = page.next_cursor;
    } while (cursor);
  }

  /** Every item of a paged list, in one array. */
  async all<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    for await (const item of this.pages<T>(path)) items.push(item);
    return items;
  }

  /** Sends bytes (an archive) as the body of a POST; the answer as request() gives it. */
  async upload<T = unknown>(path: string, bytes: Buffer): Promise<T> {
    const response = await fetch(new URL(path, this.options.url), { method: 'POST', headers: { ...this.auth(), 'content-type': 'application/octet-stream' }, body: bytes }).catch((error: Error) => {
      throw new CliError(`cannot reach ${this.options.url}: ${(error.cause as Error | undefined)?.message ?? error.message}`, EXIT.server);
    });
    this.log(`POST ${path} (${bytes.length} bytes) -> ${response.status}`);
    const body = (await response.json().catch(() => null)) as T;
    if (response.status >= 400) throw new CliError(`POST ${path}: ${response.status} ${problemLine(body)}`, response.status < 500 && response.status !== 429 ? EXIT.usage : EXIT.server);
    return body;
  }

  /** The bytes of a GET that must succeed (an artifact). */
  async download(path: string): Promise<Buffer> {
    const chunks: Uint8Array[] = [];
    for await (const chunk of await this.stream(path)) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  /** The body of a GET, as it arrives (a results file can be larger than memory). */
  async stream(path: string): Promise<AsyncIterable<Uint8Array>> {
    const response = await fetch(new URL(path, this.options.url), { headers: this.auth() }).catch((error: Error) => {
      throw new CliError(`cannot reach ${this.options.url}: ${(error.cause as Error | undefined)?.message ?? error.message}`, EXIT.server);
    });
    this.log(`GET ${path} (stream) -> ${response.status}`);
    if (response.status !== 200) {
      const exitCode = response.status === 400 || response.status === 404 ? EXIT.usage : EXIT.server;
      throw new CliError(`GET ${path}: ${response.status} ${problemLine(await response.json().catch(() => null))}`, exitCode);
    }
    return response.body as unknown as AsyncIterable<Uint8Array>;
  }

  /**
   * A cancel (of a mission or a batch): its answer's body, or undefined when it did not take effect (a 409: it
   * had ended), which is said on stderr.
   */
  async cancel<T>(path: string): Promise<T | undefined> {
    const answer = await this.request<T & { detail?: string }>('POST', path);
    if (answer.status === 409) {
      process.stderr.write(`missions: the cancel did not take effect: ${answer.body.detail}\n`);
      return undefined;
    }
    if (answer.status >= 300) throw new CliError(`cancel: ${answer.status} ${problemLine(answer.body)}`, answer.status === 404 ? EXIT.usage : EXIT.server);
    return answer.body;
  }

  /** Server-Sent Events from `path`, from after `lastEventId`; ends when the server ends the stream. */
  async *events(path: string, lastEventId?: string): AsyncGenerator<{ id: string; event: string; data: Record<string, unknown> }> {
    const response = await fetch(new URL(path, this.options.url), { headers: { ...this.auth(), ...(lastEventId ? { 'last-event-id': lastEventId } : {}) } });
    this.log(`GET ${path} (events) -> ${response.status}`);
    if (response.status !== 200) throw new CliError(`GET ${path}: ${response.status} ${problemLine(await response.json().catch(() => null))}`, response.status === 404 ? EXIT.usage : EXIT.server);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffered.indexOf('\n\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const fields = Object.fromEntries(block.split('\n').filter((line) => /^(id|event|data):/.test(line)).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]));
        if (fields.id !== undefined) yield { id: fields.id, event: fields.event ?? 'message', data: JSON.parse(fields.data ?? '{}') as Record<string, unknown> };
      }
    }
  }

  private auth(): Record<string, string> {
    return this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {};
  }

  private log(line: string): void {
    if (this.options.verbose) process.stderr.write(`missions: ${line}\n`);
  }
}

import { createServer } from 'node:http';
import { localBaseUrl } from './services';

/**
 * A local server that speaks the chat-completions wire format, standing in for the LLM endpoint no machine
 * here can reach. Tests queue its replies and read the requests it received.
 */
export interface FakeLlm {
  baseUrl: string;
  requests: { model: string; messages: { role: string; content?: string | null; tool_call_id?: string }[]; tools?: { function: { name: string } }[] }[];
  /** The Authorization header of each request, in order (undefined when there was none). */
  authorizations: (string | undefined)[];
  reply(...replies: unknown[]): void;
  /** Answers each request with what `answer` makes of it (or resolves to), while no reply is queued (undefined: none). */
  answerWith(answer: ((request: FakeLlm['requests'][number]) => unknown) | undefined): void;
  close(): Promise<void>;
}

export async function startFakeLlm(): Promise<FakeLlm> {
  const queued: unknown[] = [];
  let answer: ((request: FakeLlm['requests'][number]) => unknown) | undefined;
  const requests: FakeLlm['requests'] = [];
  const authorizations: FakeLlm['authorizations'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return void res.writeHead(404).end();
      const request = JSON.parse(Buffer.concat(chunks).toString()) as FakeLlm['requests'][number];
      requests.push(request);
      authorizations.push(req.headers.authorization);
      const reply = queued.shift() ?? (await answer?.(request));
      if (reply === undefined) return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"message":"no reply queued"}}');
      if (reply instanceof HttpFailure) return void res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(reply.body);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  return {
    baseUrl: await localBaseUrl(server),
    requests,
    authorizations,
    reply: (...replies) => void queued.push(...replies),
    answerWith: (given) => void (answer = given),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** An answer other than 200, as a provider gives when it limits, fails or is down. */
class HttpFailure {
  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly body: string,
  ) {}
}

/** A reply that answers `status` with `headers` (Retry-After, x-ratelimit-*) and an error body. */
export const failure = (status: number, headers: Record<string, string> = {}, message = `answered ${status}`) =>
  new HttpFailure(status, headers, JSON.stringify({ error: { message } }));

const completion = (message: object) => ({ id: 'chatcmpl-test', object: 'chat.completion', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', ...message } }] });

/** A reply that calls one tool; `args` may be a string to send malformed JSON. */
export const toolCall = (name: string, args: object | string, thought: string | null = null) =>
  completion({ content: thought, tool_calls: [{ id: `call_${name}`, type: 'function', function: { name, arguments: typeof args === 'string' ? args : JSON.stringify(args) } }] });

export const textReply = (content: string) => completion({ content });

/** A reply with what the call used, as chat completions report it. */
export const withUsage = (reply: object, promptTokens: number, completionTokens: number) => ({
  ...reply,
  usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
});

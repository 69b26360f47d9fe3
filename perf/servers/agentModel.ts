// The model of `npm run perf -- agents`: a local server speaking chat completions with a real model's latency
// (lognormal, clipped), answering with tool calls, and failing as providers do (429 with Retry-After, an outage).
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AgentModelOptions {
  /** Tool calls a mission makes before it finishes. */
  steps: number;
  /** Median latency of an answer, and the spread of its logarithm. */
  medianMs: number;
  sigma: number;
  /** Share of calls answered 429 with `Retry-After: 1`, at once. */
  limitedShare: number;
}

export interface AgentModel {
  baseUrl: string;
  /** Calls being answered now, and the most at once. */
  inFlight(): number;
  peakInFlight(): number;
  counts: { answered: number; limited: number; unavailable: number };
  /** Answers 503 to every call for `ms` from now. */
  goDown(ms: number): void;
  close(): Promise<void>;
}

const MIN_MS = 1_000;
const MAX_MS = 10_000;

/** A lognormal latency: median x e^(sigma x a standard normal draw), clipped to 1-10 s. */
function latency({ medianMs, sigma }: AgentModelOptions): number {
  const normal = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
  return Math.min(MAX_MS, Math.max(MIN_MS, medianMs * Math.exp(sigma * normal)));
}

const completion = (message: object, promptTokens: number) => ({
  id: 'chatcmpl-perf',
  object: 'chat.completion',
  choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: null, ...message } }],
  usage: { prompt_tokens: promptTokens, completion_tokens: 20, total_tokens: promptTokens + 20 },
});

/**
 * Each mission appends a line to a file of its workspace at every step and reads the count back; it finishes
 * with the count it read last, so a mission whose files were lost on the way finishes with a smaller number.
 */
function answer(messages: { role: string; content?: string | null }[], steps: number, promptTokens: number): object {
  const done = messages.filter((message) => message.role === 'tool');
  if (done.length < steps) {
    const call = { id: `call_${done.length + 1}`, type: 'function', function: { name: 'shell', arguments: JSON.stringify({ command: `echo ${done.length + 1} >> steps.txt && wc -l < steps.txt` }) } };
    return completion({ tool_calls: [call] }, promptTokens);
  }
  const lines = Number(/stdout:\n\s*(\d+)/.exec(done.at(-1)?.content ?? '')?.[1] ?? 0);
  const call = { id: 'call_finish', type: 'function', function: { name: 'finish', arguments: JSON.stringify({ result: { lines } }) } };
  return completion({ tool_calls: [call] }, promptTokens);
}

export async function startAgentModel(options: AgentModelOptions): Promise<AgentModel> {
  let inFlight = 0;
  let peak = 0;
  let downUntil = 0;
  const counts = { answered: 0, limited: 0, unavailable: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (Date.now() < downUntil) return void (counts.unavailable++, res.writeHead(503).end('{"error":{"message":"down"}}'));
      if (Math.random() < options.limitedShare) return void (counts.limited++, res.writeHead(429, { 'retry-after': '1' }).end('{"error":{"message":"rate limited"}}'));
      const body = Buffer.concat(chunks);
      const { messages } = JSON.parse(body.toString()) as { messages: { role: string; content?: string | null }[] };
      peak = Math.max(peak, ++inFlight);
      setTimeout(() => {
        inFlight--;
        counts.answered++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer(messages, options.steps, Math.ceil(body.length / 4))));
      }, latency(options));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    inFlight: () => inFlight,
    peakInFlight: () => peak,
    counts,
    goDown: (ms) => void (downUntil = Date.now() + ms),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

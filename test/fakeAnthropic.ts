import { createServer, type IncomingHttpHeaders } from 'node:http';
import { localBaseUrl } from './services';

/** A Messages API request as the server received it. */
export interface MessagesRequest {
  model: string;
  max_tokens: number;
  system?: string;
  messages: { role: 'user' | 'assistant'; content: { type: string; text?: string; id?: string; name?: string; input?: unknown; tool_use_id?: string; content?: string }[] }[];
  tools?: { name: string; description?: string; input_schema: unknown }[];
}

/**
 * A local server speaking Anthropic's Messages API (POST /v1/messages), standing in for the endpoint no machine
 * here can reach. Tests queue its answers and read the requests and headers it received.
 */
export interface FakeAnthropic {
  baseUrl: string;
  requests: MessagesRequest[];
  headers: IncomingHttpHeaders[];
  reply(...replies: object[]): void;
  close(): Promise<void>;
}

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
  const queued: object[] = [];
  const requests: MessagesRequest[] = [];
  const headers: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/messages') return void res.writeHead(404).end();
      requests.push(JSON.parse(Buffer.concat(chunks).toString()) as MessagesRequest);
      headers.push(req.headers);
      const reply = queued.shift();
      if (!reply) return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"invalid_request_error","message":"no reply queued"}}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  return {
    baseUrl: await localBaseUrl(server),
    requests,
    headers,
    reply: (...replies) => void queued.push(...replies),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** What each answer reports using: 100 new input tokens, 1,000 read from the cache, 50 written to it, 20 out. */
export const USAGE = { input_tokens: 100, cache_read_input_tokens: 1_000, cache_creation_input_tokens: 50, output_tokens: 20 };

/** An answer that uses one tool, with a thought before it. */
export const toolUse = (name: string, input: object, thought = `I will use ${name}.`) => ({
  id: `msg_${name}`,
  type: 'message',
  role: 'assistant',
  content: [
    { type: 'text', text: thought },
    { type: 'tool_use', id: `toolu_${name}_${Math.random().toString(36).slice(2, 8)}`, name, input },
  ],
  stop_reason: 'tool_use',
  usage: USAGE,
});

import { modelPost, type ModelHttpOptions } from './modelHttp';
import type { ChatCompletion, ChatRequest } from './openai';

/** The Messages API version this speaks. */
const ANTHROPIC_VERSION = '2023-06-01';
/** Messages requires a bound on the answer; a request that names none gets this. */
const MAX_ANSWER_TOKENS = 4_096;

type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string };

interface AnthropicReply {
  id?: string;
  content?: Block[];
  stop_reason?: string;
  usage?: { input_tokens?: number; output_tokens?: number; cache_creation_input_tokens?: number; cache_read_input_tokens?: number };
}

/**
 * Anthropic's Messages API (POST {baseUrl}/messages, the key as `x-api-key`), spoken to and from the chat
 * completions shape the policies use: system messages become `system`, tool calls `tool_use` blocks, tool
 * messages `tool_result` blocks of the next user turn; the answer's text and tool uses become a message with
 * `tool_calls`, and its usage counts cache writes and reads as input, reported apart in `prompt_tokens_details`
 * (which the prices read). Recorded calls keep the chat completions shape, so a replay needs no endpoint.
 */
export function httpAnthropicMessages(options: ModelHttpOptions): ChatCompletion {
  const headers: Record<string, string> = { 'anthropic-version': ANTHROPIC_VERSION };
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  const post = modelPost(options, '/messages', headers);
  return async (request, signal) => chatReply((await post(messagesRequest(request), signal)) as AnthropicReply);
}

function messagesRequest(request: ChatRequest) {
  const system = request.messages.filter((message) => message.role === 'system').map((message) => message.content ?? '');
  const turns: { role: 'user' | 'assistant'; content: Block[] }[] = [];
  const add = (role: 'user' | 'assistant', blocks: Block[]) => {
    const last = turns.at(-1);
    // Turns alternate: blocks of the same role in a row go into one turn.
    if (last?.role === role) last.content.push(...blocks);
    else turns.push({ role, content: blocks });
  };
  for (const message of request.messages) {
    if (message.role === 'system') continue;
    if (message.role === 'tool') {
      add('user', [{ type: 'tool_result', tool_use_id: message.tool_call_id ?? '', content: message.content ?? '' }]);
    } else if (message.role === 'assistant') {
      const calls = (message.tool_calls ?? []) as { id: string; function: { name: string; arguments: string } }[];
      add('assistant', [
        ...(message.content ? [{ type: 'text' as const, text: message.content }] : []),
        ...calls.map((call) => ({ type: 'tool_use' as const, id: call.id, name: call.function.name, input: parsedOr(call.function.arguments) })),
      ]);
    } else {
      add('user', [{ type: 'text', text: message.content ?? '' }]);
    }
  }
  const tools = ((request.tools ?? []) as { function: { name: string; description?: string; parameters?: unknown } }[]).map(({ function: tool }) => ({
    name: tool.name,
    description: tool.description,
    input_schema: tool.parameters ?? { type: 'object' },
  }));
  return {
    model: request.model,
    max_tokens: request.max_tokens ?? MAX_ANSWER_TOKENS,
    ...(request.temperature !== undefined && { temperature: request.temperature }),
    ...(request.top_p !== undefined && { top_p: request.top_p }),
    ...(request.stop && { stop_sequences: request.stop }),
    ...(system.length > 0 && { system: system.join('\n\n') }),
    messages: turns,
    ...(tools.length > 0 && { tools, tool_choice: { type: 'auto' } }),
  };
}

const parsedOr = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
};

function chatReply(reply: AnthropicReply): unknown {
  const blocks = Array.isArray(reply.content) ? reply.content : [];
  const text = blocks.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('\n');
  const toolCalls = blocks.flatMap((block) =>
    block.type === 'tool_use' ? [{ id: block.id, type: 'function', function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } }] : [],
  );
  const { input_tokens: input = 0, output_tokens: output = 0, cache_creation_input_tokens: written = 0, cache_read_input_tokens: read = 0 } = reply.usage ?? {};
  return {
    id: reply.id,
    object: 'chat.completion',
    choices: [{ index: 0, finish_reason: reply.stop_reason, message: { role: 'assistant', content: text || null, ...(toolCalls.length > 0 && { tool_calls: toolCalls }) } }],
    usage: {
      prompt_tokens: input + written + read,
      completion_tokens: output,
      total_tokens: input + written + read + output,
      prompt_tokens_details: { cached_tokens: read, cache_creation_tokens: written },
    },
  };
}

import { costOf, type ModelPrice } from '../../lib/llmEndpoints';
import type { ModelSettings, ModelUsage, Step } from '../../jobs/mission';
import type { Toolbox } from '../../jobs/toolbox';
import type { Action, Policy } from './policy';
import { clipped, historyWindow, observationChars, type HistoryBound } from './historyWindow';
import { parseTextReply, textSystemPrompt } from './reactText';

/** One chat-completions call; `callIndex` counts the mission's calls, for recording and replay. */
export type ChatCompletion = (request: ChatRequest, signal: AbortSignal, callIndex: number) => Promise<unknown>;

export interface ChatRequest {
  model: string;
  messages: { role: string; content?: string | null; tool_calls?: unknown[]; tool_call_id?: string }[];
  tools?: unknown[];
  tool_choice?: 'auto';
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  seed?: number;
  stop?: string[];
}

export interface ModelPolicyOptions {
  goal: string;
  model: string;
  /** `tools`: the model calls functions; `text`: a ReAct text format, for models without tool calling. */
  format: 'tools' | 'text';
  /** Steps shown to the model, newest first, in steps and tokens; older ones are summarised as omitted. */
  history: HistoryBound;
  complete: ChatCompletion;
  /** Whether calls spend tokens (a replay answers from a recording and spends none), where, and at what price. */
  billing: { endpoint: string; price: ModelPrice | undefined } | 'free';
  /** The mission's own sampling settings and system prompt (llm.*). */
  settings?: ModelSettings;
  /** The tools the model is offered, and may call. */
  toolbox: Toolbox;
}

const SYSTEM_TOOLS = `You are an agent carrying out a mission in a Linux sandbox with no network. Your working
directory is /workspace. Use the tools to make progress; each tool result is shown to you. When the mission is
done, call finish with the result.`;


/** The observation a model sees for a step: what the tool returned, and why it failed, if it did. */
export function renderObservation(step: Step): string {
  const observation = step.observation as Record<string, unknown> | null;
  const parts: string[] = [];
  if (observation && 'stdout' in observation) {
    parts.push(`exit code: ${String(observation.exit_code)}`, `stdout:\n${String(observation.stdout)}`, `stderr:\n${String(observation.stderr)}`);
  } else if (observation && 'content' in observation) {
    parts.push(String(observation.content), observation.truncated ? `[truncated: the file has ${String(observation.size)} bytes]` : '');
  } else if (observation) {
    parts.push(JSON.stringify(observation));
  }
  if (step.error) parts.push(`error: ${step.error}`);
  return parts.filter(Boolean).join('\n');
}

/** A policy in which an OpenAI-compatible chat model chooses every step (also the engine of `replay`). */
export function modelPolicy(options: ModelPolicyOptions): Policy {
  return {
    feedsBackErrors: true,
    async next(history: readonly Step[], signal: AbortSignal, notice?: string): Promise<Action> {
      const maxChars = observationChars(options.history);
      const { shown, omitted } = historyWindow(history, options.history, (step) => shownSize(step, maxChars));
      const request = options.format === 'tools' ? toolsRequest(options, shown, omitted, maxChars) : textRequest(options, shown, omitted, maxChars);
      if (notice) request.messages.push({ role: 'user', content: notice });
      const reply = await options.complete(request, signal, history.length);
      const action = options.format === 'tools' ? parseToolsReply(reply, options.toolbox) : parseTextReply(reply, options.toolbox);
      return options.billing === 'free' ? action : { ...action, usage: usageOf(reply, options.billing.endpoint, options.model, options.billing.price) };
    },
  };
}

function opening(options: ModelPolicyOptions, system: string, omitted: number): ChatRequest['messages'] {
  const own = options.settings?.system_prompt;
  const messages = [
    { role: 'system', content: own ? `${system}\n\n${own}` : system },
    { role: 'user', content: `Mission: ${options.goal}` },
  ];
  if (omitted > 0) messages.push({ role: 'user', content: `(${omitted} earlier steps are not shown)` });
  return messages;
}

/** About what a step takes in a request: its thought, its call and its (clipped) observation. */
function shownSize(step: Step, maxChars: number): number {
  return (step.thought?.length ?? 0) + JSON.stringify(step.input).length + Math.min(renderObservation(step).length, maxChars);
}

function toolsRequest(options: ModelPolicyOptions, steps: readonly Step[], omitted: number, maxChars: number): ChatRequest {
  const messages = opening(options, SYSTEM_TOOLS, omitted);
  for (const step of steps) {
    if (step.tool === 'invalid') {
      messages.push({ role: 'assistant', content: JSON.stringify(step.input) });
      messages.push({ role: 'user', content: `That reply was not a valid action: ${step.error}. Call one of the tools.` });
      continue;
    }
    const id = `call_${step.seq}`;
    messages.push({
      role: 'assistant',
      content: step.thought,
      tool_calls: [{ id, type: 'function', function: { name: step.tool, arguments: JSON.stringify(step.input) } }],
    } as ChatRequest['messages'][number]);
    messages.push({ role: 'tool', tool_call_id: id, content: clipped(renderObservation(step), maxChars) });
  }
  return { model: options.model, messages, tools: options.toolbox.definitions(), tool_choice: 'auto', ...sampling(options.settings) };
}

function textRequest(options: ModelPolicyOptions, steps: readonly Step[], omitted: number, maxChars: number): ChatRequest {
  const messages = opening(options, textSystemPrompt(options.toolbox.definitions()), omitted);
  for (const step of steps) {
    if (step.tool === 'invalid') {
      messages.push({ role: 'assistant', content: String((step.input as { text?: unknown }).text ?? JSON.stringify(step.input)) });
      messages.push({ role: 'user', content: `That reply was not a valid action: ${step.error}. Use the format.` });
      continue;
    }
    messages.push({ role: 'assistant', content: `Thought: ${step.thought ?? ''}\nAction: ${step.tool}\nAction Input: ${JSON.stringify(step.input)}` });
    messages.push({ role: 'user', content: `Observation: ${clipped(renderObservation(step), maxChars)}` });
  }
  return { model: options.model, messages, ...sampling(options.settings) };
}

/** The settings an endpoint samples with, as the mission gave them (none: the endpoint's defaults). */
function sampling(settings: ModelSettings = {}): Partial<ChatRequest> {
  const { temperature, top_p, max_tokens, seed, stop } = settings;
  return Object.fromEntries(Object.entries({ temperature, top_p, max_tokens, seed, stop }).filter(([, value]) => value !== undefined));
}

/** What the reply says the call used (`usage` of chat completions; a reply without it counts as none). */
export function usageOf(reply: unknown, endpoint: string, model: string, price: ModelPrice | undefined): ModelUsage {
  type Details = { cached_tokens?: unknown; cache_creation_tokens?: unknown };
  const usage = (reply as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; prompt_tokens_details?: Details } } | null)?.usage;
  const count = (value: unknown) => (Number.isSafeInteger(value) && (value as number) >= 0 ? (value as number) : 0);
  const [input, output] = [count(usage?.prompt_tokens), count(usage?.completion_tokens)];
  // Cached input is part of the prompt's tokens (OpenAI's cached_tokens, Anthropic's cache reads and writes).
  const cacheRead = Math.min(input, count(usage?.prompt_tokens_details?.cached_tokens));
  const cacheWrite = Math.min(input - cacheRead, count(usage?.prompt_tokens_details?.cache_creation_tokens));
  return { endpoint, model, input_tokens: input, output_tokens: output, cost_usd: costOf(price, { total: input, cacheRead, cacheWrite }, output) };
}

const invalid = (error: string, output: unknown): Action => ({ kind: 'invalid', thought: null, error, output });

/** A tools-format reply: a tool call becomes the step; plain text, the final answer. */
function parseToolsReply(reply: unknown, toolbox: Toolbox): Action {
  const message = (reply as { choices?: { message?: Record<string, unknown> }[] })?.choices?.[0]?.message;
  if (!message) return invalid('the reply has no message', { reply });
  const text = typeof message.content === 'string' && message.content.trim() ? message.content.trim() : null;
  const call = (message.tool_calls as { function?: { name?: unknown; arguments?: unknown } }[] | undefined)?.[0]?.function;
  if (!call) return text === null ? invalid('the reply has neither a tool call nor text', { message }) : { kind: 'finish', thought: null, result: text };
  let input: unknown;
  try {
    input = JSON.parse(typeof call.arguments === 'string' && call.arguments ? call.arguments : '{}');
  } catch (error) {
    return invalid(`the arguments of ${String(call.name)} are not valid JSON (${(error as Error).message})`, { tool_call: call });
  }
  const parsed = toolbox.parse(call.name, input);
  if ('error' in parsed) return invalid(parsed.error, { tool_call: call });
  return { kind: 'tool', thought: text, call: parsed.call };
}

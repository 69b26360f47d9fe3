import { z } from 'zod';
import { toolCallSchema } from '../tools';
import type { Action } from './policy';

/** The system prompt of the text ReAct format, listing the tools with their JSON input schemas. */
export function textSystemPrompt(tools: { function: { name: string; description: string; parameters: unknown } }[]): string {
  const list = tools.map(({ function: tool }) => `- ${tool.name}: ${tool.description} Input: ${JSON.stringify(tool.parameters)}`).join('\n');
  return `You are an agent carrying out a mission in a Linux sandbox with no network, in /workspace.
Tools:
${list}

Reply in exactly this format:
Thought: <your reasoning>
Action: <one tool name>
Action Input: <the tool's input as one JSON object>

You will get an Observation back. When the mission is done, reply:
Thought: <your reasoning>
Final Answer: <the result>`;
}

/** Parses a text-format reply into an action; anything else is an invalid action the model is told about. */
export function parseTextReply(reply: unknown): Action {
  const text = (reply as { choices?: { message?: { content?: unknown } }[] })?.choices?.[0]?.message?.content;
  if (typeof text !== 'string' || !text.trim()) return { kind: 'invalid', thought: null, error: 'the reply has no text', output: { reply } };
  const thought = /Thought:\s*([\s\S]*?)(?=\n\s*(Action|Final Answer):|$)/.exec(text)?.[1]?.trim() || null;
  const final = /Final Answer:\s*([\s\S]*)$/.exec(text);
  if (final) return { kind: 'finish', thought, result: final[1]!.trim() };
  const tool = /Action:\s*(\S+)/.exec(text)?.[1];
  const rawInput = /Action Input:\s*([\s\S]*)$/.exec(text)?.[1]?.trim().replace(/^```(json)?\s*|\s*```$/g, '');
  const invalid = (error: string): Action => ({ kind: 'invalid', thought, error, output: { text } });
  if (!tool || rawInput === undefined) return invalid('expected "Action:" and "Action Input:" lines, or "Final Answer:"');
  let input: unknown;
  try {
    input = JSON.parse(rawInput);
  } catch (error) {
    return invalid(`the Action Input is not valid JSON (${(error as Error).message})`);
  }
  const parsed = toolCallSchema.safeParse({ tool, input });
  if (!parsed.success) return invalid(z.prettifyError(parsed.error).replaceAll('\n', ' '));
  return { kind: 'tool', thought, call: parsed.data };
}

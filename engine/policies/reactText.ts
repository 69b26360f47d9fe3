import type { Toolbox, ToolDefinition } from '../../jobs/toolbox';
import type { Action } from './policy';

/** The system prompt of the text ReAct format, listing the tools with their JSON input schemas. */
export function textSystemPrompt(tools: readonly ToolDefinition[]): string {
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

/**
 * Parses a text-format reply into an action; anything else is an invalid action the model is told about. The
 * reply comes from a model URL the tenant may choose: it is read in time linear in its length (no pattern here
 * can backtrack over a run of whitespace).
 */
export function parseTextReply(reply: unknown, toolbox: Toolbox): Action {
  const text = (reply as { choices?: { message?: { content?: unknown } }[] })?.choices?.[0]?.message?.content;
  if (typeof text !== 'string' || !text.trim()) return { kind: 'invalid', thought: null, error: 'the reply has no text', output: { reply } };
  const thought = thoughtOf(text);
  const final = after(text, 'Final Answer:');
  if (final !== undefined) return { kind: 'finish', thought, result: final.trim() };
  const tool = after(text, 'Action:')?.trimStart().split(/\s/, 1)[0];
  const rawInput = unfenced(after(text, 'Action Input:'));
  const invalid = (error: string): Action => ({ kind: 'invalid', thought, error, output: { text } });
  if (!tool || rawInput === undefined) return invalid('expected "Action:" and "Action Input:" lines, or "Final Answer:"');
  let input: unknown;
  try {
    input = JSON.parse(rawInput);
  } catch (error) {
    return invalid(`the Action Input is not valid JSON (${(error as Error).message})`);
  }
  const parsed = toolbox.parse(tool, input);
  if ('error' in parsed) return invalid(parsed.error);
  return { kind: 'tool', thought, call: parsed.call };
}

/** What follows the first `marker`, or undefined without one. */
function after(text: string, marker: string): string | undefined {
  const at = text.indexOf(marker);
  return at < 0 ? undefined : text.slice(at + marker.length);
}

// A line that starts (after blanks, not newlines: a newline-free class cannot rescan a run of them) an action.
const NEXT_SECTION = /\n[^\S\n]*(?:Action|Final Answer):/;

/** The text after "Thought:" up to the line that starts the action or the answer, trimmed; null if none. */
function thoughtOf(text: string): string | null {
  const rest = after(text, 'Thought:');
  if (rest === undefined) return null;
  const end = NEXT_SECTION.exec(rest)?.index ?? rest.length;
  return rest.slice(0, end).trim() || null;
}

/** The Action Input without a Markdown code fence around it. */
function unfenced(input: string | undefined): string | undefined {
  if (input === undefined) return undefined;
  let body = input.trim();
  if (body.startsWith('```')) body = body.slice(body.startsWith('```json') ? 7 : 3).trimStart();
  if (body.endsWith('```')) body = body.slice(0, -3).trimEnd();
  return body;
}

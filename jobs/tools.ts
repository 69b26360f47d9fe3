import { z } from 'zod';
import type { CommandResult } from '../sandbox/channel';
import { exactText, wholeCharacters } from '../lib/text';
import { SandboxRequestError } from '../sandbox/errors';
import type { Sandbox } from '../sandbox/sandbox';

const timeout = z.number().int().min(1).max(3_600).optional();
/** The largest file write_file writes: 1 MiB, whichever its encoding. */
const MAX_FILE_BYTES = 1_048_576;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const fileBytes = (input: { content: string; encoding: 'utf-8' | 'base64' }) => Buffer.from(input.content, input.encoding === 'base64' ? 'base64' : 'utf8');

/** What each tool takes, with a description for models that choose tools themselves. Unknown fields are refused. */
export const TOOLS = {
  shell: {
    description: 'Run a command with /bin/sh in /workspace. Returns stdout, stderr and the exit code.',
    input: z.object({ command: z.string().min(1).max(100_000), timeout_s: timeout }).strict(),
  },
  python: {
    description: 'Run Python 3 code in /workspace. Returns stdout, stderr and the exit code.',
    input: z.object({ code: z.string().min(1).max(1_000_000), timeout_s: timeout }).strict(),
  },
  read_file: {
    description: 'Read a file inside /workspace. UTF-8 text comes as it is; any other content in base64 (encoding says which).',
    input: z.object({ path: z.string().min(1).max(4_096), max_bytes: z.number().int().min(1).max(1_048_576).optional() }).strict(),
  },
  write_file: {
    description: 'Write a file inside /workspace, creating its directories. Content is UTF-8 text, or base64 with encoding "base64".',
    input: z
      .object({
        path: z.string().min(1).max(4_096),
        content: z.string().max(1_048_576 * 2),
        encoding: z.enum(['utf-8', 'base64']).default('utf-8'),
      })
      .strict()
      .superRefine((input, context) => {
        const bytes = fileBytes(input);
        if (bytes.length > MAX_FILE_BYTES) context.addIssue({ code: 'custom', path: ['content'], message: `at most ${MAX_FILE_BYTES} bytes` });
        if (input.encoding === 'base64' && !BASE64.test(input.content)) context.addIssue({ code: 'custom', path: ['content'], message: 'not valid base64' });
      }),
  },
  finish: {
    description: 'End the mission with its result.',
    input: z.object({ result: z.unknown() }).strict(),
  },
} as const;

export const TOOL_NAMES = Object.keys(TOOLS) as (keyof typeof TOOLS)[];

/** A tool call: `{ tool, input }`. */
export const toolCallSchema = z.discriminatedUnion(
  'tool',
  [
    z.object({ tool: z.literal('shell'), input: TOOLS.shell.input }).strict(),
    z.object({ tool: z.literal('python'), input: TOOLS.python.input }).strict(),
    z.object({ tool: z.literal('read_file'), input: TOOLS.read_file.input }).strict(),
    z.object({ tool: z.literal('write_file'), input: TOOLS.write_file.input }).strict(),
    z.object({ tool: z.literal('finish'), input: TOOLS.finish.input }).strict(),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? `unknown tool: the tools are ${TOOL_NAMES.join(', ')}` : undefined) },
);
export type ToolCall = z.infer<typeof toolCallSchema>;
export type SandboxedCall = Exclude<ToolCall, { tool: 'finish' }>;

/** How a custom tool is named: what function-calling APIs accept. */
export const TOOL_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const BUILT_IN: ReadonlySet<string> = new Set(TOOL_NAMES);
export const isBuiltIn = (name: string) => BUILT_IN.has(name);

/** A call of a mission's own tool (jobs/toolbox.ts): its arguments, an object, go to its command as JSON. */
export const customCallSchema = z
  .object({
    tool: z.string().regex(TOOL_NAME, 'not a tool name').refine((name) => !isBuiltIn(name), 'a built-in tool'),
    input: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();
export type CustomCall = z.infer<typeof customCallSchema>;

/** A step of a plan (or of setup): a built-in tool's call, checked as that tool takes it, or a custom tool's. */
export const planStepSchema = z.unknown().transform((value, context): ToolCall | CustomCall => {
  const tool = (value as { tool?: unknown } | null)?.tool;
  const schema = typeof tool === 'string' && TOOL_NAME.test(tool) && !isBuiltIn(tool) ? customCallSchema : toolCallSchema;
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) context.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  return z.NEVER;
});

export interface ToolLimits {
  shellTimeoutMs: number;
  pythonTimeoutMs: number;
  /** Output kept per stream and step (head and tail), and the default read_file size. */
  maxOutputBytes: number;
  /** No command runs longer than this, whatever its own timeout (the mission's deadline, and a margin). */
  capMs?: number;
}

const capped = (timeoutMs: number, limits: ToolLimits) => Math.max(1, Math.round(Math.min(timeoutMs, limits.capMs ?? Infinity)));

/** What a tool call left behind: the observation the policy sees next, and why it failed, if it did. */
export interface ToolOutcome {
  observation: unknown;
  exit_code: number | null;
  error: { code: string; message: string } | null;
}

/** A custom tool's command (jobs/toolbox.ts), as runTool needs it. */
export interface CustomCommand {
  command: string;
  timeout_s?: number;
}

/**
 * Runs one sandboxed tool call: a built-in, or a custom tool's command with the call's arguments as JSON on
 * stdin (observed as a shell step is). Refusals of the sandbox (a path outside /workspace) are the step's error.
 */
export async function runTool(sandbox: Sandbox, call: SandboxedCall | CustomCall, limits: ToolLimits, custom?: CustomCommand): Promise<ToolOutcome> {
  if (custom) {
    const timeoutMs = capped(custom.timeout_s ? custom.timeout_s * 1_000 : limits.shellTimeoutMs, limits);
    return commandOutcome(await sandbox.run(custom.command, { stdin: Buffer.from(JSON.stringify(call.input)), timeoutMs, maxOutputBytes: limits.maxOutputBytes }));
  }
  return runBuiltIn(sandbox, call as SandboxedCall, limits);
}

async function runBuiltIn(sandbox: Sandbox, call: SandboxedCall, limits: ToolLimits): Promise<ToolOutcome> {
  try {
    switch (call.tool) {
      case 'shell':
        return commandOutcome(
          await sandbox.run(call.input.command, {
            timeoutMs: capped(call.input.timeout_s ? call.input.timeout_s * 1_000 : limits.shellTimeoutMs, limits),
            maxOutputBytes: limits.maxOutputBytes,
          }),
        );
      case 'python':
        return commandOutcome(
          await sandbox.run('exec python3 -', {
            stdin: Buffer.from(call.input.code),
            timeoutMs: capped(call.input.timeout_s ? call.input.timeout_s * 1_000 : limits.pythonTimeoutMs, limits),
            maxOutputBytes: limits.maxOutputBytes,
          }),
        );
      case 'read_file': {
        const file = await sandbox.readFile(call.input.path, call.input.max_bytes ?? limits.maxOutputBytes);
        const truncated = file.size > file.data.length;
        // A read cut at max_bytes may end inside a character: the text ends before it.
        const text = exactText(truncated ? file.data.subarray(0, wholeCharacters(file.data)) : file.data);
        const content = text === undefined ? { content: file.data.toString('base64'), encoding: 'base64' } : { content: text, encoding: 'utf-8' };
        return { observation: { path: call.input.path, ...content, size: file.size, truncated }, exit_code: null, error: null };
      }
      case 'write_file': {
        const bytes = fileBytes(call.input);
        await sandbox.writeFile(call.input.path, bytes);
        return { observation: { path: call.input.path, bytes: bytes.length }, exit_code: null, error: null };
      }
    }
  } catch (error) {
    if (!(error instanceof SandboxRequestError)) throw error;
    return { observation: null, exit_code: null, error: { code: 'ERR_TOOL_REFUSED', message: error.message } };
  }
}

function commandOutcome(result: CommandResult): ToolOutcome {
  return { observation: result, exit_code: result.exit_code, error: describeFailure(result) };
}

/** Why a command failed, in one line a user can act on (with the last line of stderr), or null if it did not. */
function describeFailure(result: CommandResult): ToolOutcome['error'] {
  if (result.exit_code === 0) return null;
  const lastError = result.stderr.trimEnd().split('\n').at(-1)?.slice(0, 200);
  const withStderr = (message: string) => (lastError ? `${message}: ${lastError}` : message);
  if (result.timed_out) return { code: 'ERR_STEP_TIMEOUT', message: `the step timed out after ${Math.round(result.duration_ms)} ms` };
  if (result.signal) return { code: 'ERR_STEP_FAILED', message: withStderr(`the step was killed by signal ${result.signal}`) };
  return { code: 'ERR_STEP_FAILED', message: withStderr(`the step exited with code ${result.exit_code}`) };
}

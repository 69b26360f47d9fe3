import type { CommandResult } from '../sandbox/channel';
import { SandboxError } from '../sandbox/errors';
import type { Sandbox } from '../sandbox/sandbox';
import type { FileStore } from '../tasks/fileStore';
import { taskArchives, unpackTaskFiles } from '../tasks/taskFiles';
import { scored, scoringError, type CommandScorer, type Score } from './score';

const DEFAULT_TIMEOUT_MS = 300_000;
/** Output a scorer's command may print: its report's tail is what it says. */
const MAX_OUTPUT_BYTES = 65_536;
const MAX_EXPLANATION = 4_000;

/** Runs a command scorer in the sandbox the agent left, its hidden files unpacked first. */
export async function runCommandScorer(scorer: CommandScorer, sandbox: Sandbox, files: FileStore, tenantId: string): Promise<Score> {
  const startedAt = performance.now();
  const took = () => performance.now() - startedAt;
  let result: CommandResult;
  try {
    if (scorer.files?.length) await unpackTaskFiles(sandbox, await taskArchives(files, tenantId, scorer.files));
    result = await sandbox.run(scorer.command, { timeoutMs: scorer.timeout_s ? scorer.timeout_s * 1_000 : DEFAULT_TIMEOUT_MS, maxOutputBytes: MAX_OUTPUT_BYTES });
  } catch (error) {
    if (!(error instanceof SandboxError)) throw error;
    return scoringError(scorer, `the scorer could not run: ${error.message}`, took());
  }
  if (result.timed_out) return scoringError(scorer, `the scorer timed out after ${Math.round(result.duration_ms)} ms`, took());
  if (result.signal) return scoringError(scorer, `the scorer was killed by signal ${result.signal}`, took());
  const said = scoreLine(result.stdout);
  if (typeof said === 'string') return scoringError(scorer, said, took());
  if (said) return scored(scorer, said.score, said.explanation ?? null, took(), said.metadata && { metadata: said.metadata });
  const tail = (result.exit_code === 0 ? result.stdout : `${result.stdout}${result.stderr}`).trimEnd().slice(-MAX_EXPLANATION) || null;
  return scored(scorer, result.exit_code === 0 ? 1 : 0, tail, took());
}

/**
 * The score the last line of stdout gives, when it is a JSON object with `score`; a string saying what is wrong
 * with one that tries to be (a score outside 0..1); undefined when the line is no such object.
 */
function scoreLine(stdout: string): { score: number; explanation?: string; metadata?: Record<string, unknown> } | string | undefined {
  const last = stdout.trimEnd().split('\n').at(-1)?.trim() ?? '';
  if (!last.startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    return undefined;
  }
  const { score, explanation, metadata } = parsed as { score?: unknown; explanation?: unknown; metadata?: unknown };
  if (score === undefined) return undefined;
  if (typeof score !== 'number' || !(score >= 0 && score <= 1)) return `the scorer printed a score that is not a number from 0 to 1: ${JSON.stringify(score)}`;
  return {
    score,
    ...(typeof explanation === 'string' && { explanation: explanation.slice(0, MAX_EXPLANATION) }),
    ...(metadata !== null && typeof metadata === 'object' && !Array.isArray(metadata) && { metadata: metadata as Record<string, unknown> }),
  };
}

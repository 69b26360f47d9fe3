import { z } from 'zod';
import { ArchiveError, entryPath } from '../tasks/archivePaths';
import { ENDPOINT_NAME } from '../lib/llmEndpoints';

/** What a scorer made of a mission, once its agent ended. The mission's status stays the agent's outcome. */
export interface Score {
  /** 0..1; null when the scorer could not score (see `error`). */
  value: number | null;
  /** value >= the scorer's pass_at; null when it could not score. */
  passed: boolean | null;
  explanation: string | null;
  scorer: ScorerKind;
  duration_ms: number;
  metadata?: Record<string, unknown>;
  /** A grader model's call: counted as grading, apart from the agent's usage and its token limits. */
  usage?: GradingUsage;
  /** The scorer crashed or timed out: the item counts as errored, not failed. */
  error?: string;
}

export type ScorerKind = 'command' | 'expected' | 'model';

export interface GradingUsage {
  endpoint: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  /** null for a model without a price. */
  cost_usd: number | null;
}

const passAt = z.number().min(0).max(1).default(1);
const hiddenFile = z
  .object({
    file_id: z.uuid(),
    path: z
      .string()
      .min(1)
      .max(4_096)
      .refine((path) => {
        try {
          return entryPath(path) !== undefined;
        } catch (error) {
          if (error instanceof ArchiveError) return false;
          throw error;
        }
      }, 'a directory inside /workspace: not absolute, no ..')
      .optional(),
  })
  .strict();

/**
 * A command run in the sandbox as the agent left it, after it: `files` (uploaded archives, like a task's) are
 * unpacked only then, so hidden tests stay hidden. Exit 0 scores 1, else 0, unless the last line of stdout is
 * `{"score": 0..1, "explanation"?, "metadata"?}`.
 */
export const commandScorerSchema = z
  .object({
    command: z.string().min(1).max(100_000),
    timeout_s: z.number().int().min(1).max(3_600).optional(),
    files: z.array(hiddenFile).max(20).optional(),
    pass_at: passAt,
  })
  .strict();

/** The mission's result against an expected answer: exactly, containing it, or matching it as a regular expression. */
export const expectedScorerSchema = z
  .object({
    expected: z.string().max(100_000),
    match: z.enum(['exact', 'includes', 'regex']).default('exact'),
    pass_at: passAt,
  })
  .strict()
  .superRefine((scorer, context) => {
    if (scorer.match !== 'regex') return;
    try {
      new RegExp(scorer.expected, 'u');
    } catch (error) {
      context.addIssue({ code: 'custom', path: ['expected'], message: `not a regular expression: ${(error as Error).message}` });
    }
  });

/**
 * A grader model (one of the operator's endpoints, either wire format) reads the goal, the result, the rubric and
 * the artifact named, and answers a score and an explanation in a fixed schema (a `grade` tool call).
 */
export const modelScorerSchema = z
  .object({
    model: z
      .object({
        endpoint: z.string().regex(ENDPOINT_NAME, 'not an endpoint name').optional(),
        model: z.string().min(1).max(200).optional(),
      })
      .strict(),
    rubric: z.string().min(1).max(20_000),
    /** The path of one of the mission's artifacts (as kept), shown to the grader beside the result. */
    artifact: z.string().min(1).max(4_096).optional(),
    timeout_s: z.number().int().min(1).max(3_600).optional(),
    pass_at: passAt,
  })
  .strict();

export const scorerSchema = z.union([commandScorerSchema, expectedScorerSchema, modelScorerSchema]);
export type Scorer = z.infer<typeof scorerSchema>;
export type CommandScorer = z.infer<typeof commandScorerSchema>;
export type ExpectedScorer = z.infer<typeof expectedScorerSchema>;
export type ModelScorer = z.infer<typeof modelScorerSchema>;

const kindOf = (scorer: Scorer): ScorerKind => ('command' in scorer ? 'command' : 'expected' in scorer ? 'expected' : 'model');

/** A score of `value` by this scorer's pass_at. */
export function scored(scorer: Scorer, value: number, explanation: string | null, durationMs: number, extra: Pick<Score, 'metadata' | 'usage'> = {}): Score {
  return { value, passed: value >= scorer.pass_at, explanation, scorer: kindOf(scorer), duration_ms: Math.round(durationMs), ...extra };
}

/** The scorer could not score: errored, not failed. */
export function scoringError(scorer: Scorer, error: string, durationMs: number, usage?: GradingUsage): Score {
  return { value: null, passed: null, explanation: null, scorer: kindOf(scorer), duration_ms: Math.round(durationMs), error, ...(usage && { usage }) };
}

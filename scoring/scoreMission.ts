import type { Sandbox } from '../sandbox/sandbox';
import type { FileStore } from '../tasks/fileStore';
import { runCommandScorer } from './commandScorer';
import { runExpectedScorer } from './expectedScorer';
import { runModelScorer, type Grade } from './modelScorer';
import { scoringError, type Score, type Scorer } from './score';

/** What scoring a mission needs: its sandbox as the agent left it (a command scorer's), its result and artifacts. */
export interface ScoringInput {
  tenantId: string;
  goal: string;
  result: unknown;
  /** Undefined when the mission left none (no step ran, or its sandbox died with it). */
  sandbox: () => Promise<Sandbox | undefined>;
  /** One of the artifacts it kept, by path. */
  artifact: (path: string) => Promise<Buffer | undefined>;
  files: FileStore;
  grade: Grade;
}

/** Runs the mission's scorer; never throws for the scorer's own trouble (that is an errored score). */
export async function scoreMission(scorer: Scorer, input: ScoringInput): Promise<Score> {
  if ('expected' in scorer) return runExpectedScorer(scorer, input.result);
  if ('rubric' in scorer) return runModelScorer(scorer, { goal: input.goal, result: input.result, artifact: () => input.artifact(scorer.artifact!) }, input.grade);
  const sandbox = await input.sandbox();
  if (!sandbox) return scoringError(scorer, 'the mission left no sandbox to score in', 0);
  return runCommandScorer(scorer, sandbox, input.files, input.tenantId);
}

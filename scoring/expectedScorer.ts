import { Worker } from 'node:worker_threads';
import { scored, scoringError, type ExpectedScorer, type Score } from './score';

/** A tenant's regular expression may backtrack for ever: it runs in a thread of its own, ended past this. */
const REGEX_TIMEOUT_MS = 1_000;
const MATCH_IN_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
parentPort.postMessage(new RegExp(workerData.pattern, 'u').test(workerData.text));`;

/** The result as text: a string as it is, a scripted plan's `{output}` its output, anything else its JSON. */
export function answerText(result: unknown): string {
  if (typeof result === 'string') return result;
  const output = (result as { output?: unknown } | null)?.output;
  if (typeof output === 'string') return output;
  return result === null || result === undefined ? '' : JSON.stringify(result);
}

/** Scores the mission's result against the expected answer: 1 when it matches, else 0. */
export async function runExpectedScorer(scorer: ExpectedScorer, result: unknown): Promise<Score> {
  const startedAt = performance.now();
  const text = answerText(result);
  let matched: boolean;
  if (scorer.match === 'exact') matched = text.trim() === scorer.expected.trim();
  else if (scorer.match === 'includes') matched = text.includes(scorer.expected);
  else {
    const inThread = await regexInThread(scorer.expected, text);
    if (inThread === 'timeout') return scoringError(scorer, `matching the regular expression took more than ${REGEX_TIMEOUT_MS} ms`, performance.now() - startedAt);
    matched = inThread;
  }
  const explanation = matched ? `the result ${scorer.match === 'exact' ? 'is' : scorer.match === 'includes' ? 'includes' : 'matches'} the expected answer` : `the result does not ${scorer.match === 'exact' ? 'equal' : scorer.match === 'includes' ? 'include' : 'match'} the expected answer`;
  return scored(scorer, matched ? 1 : 0, explanation, performance.now() - startedAt);
}

function regexInThread(pattern: string, text: string): Promise<boolean | 'timeout'> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(MATCH_IN_THREAD, { eval: true, workerData: { pattern, text }, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    const timer = setTimeout(() => void worker.terminate().then(() => resolve('timeout')), REGEX_TIMEOUT_MS);
    worker.once('message', (matched: boolean) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(matched);
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

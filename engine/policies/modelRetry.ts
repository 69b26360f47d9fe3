import { setTimeout as sleep } from 'node:timers/promises';
import { ModelUnavailableError } from './modelErrors';
import type { ChatCompletion } from './openai';

export interface RetryOptions {
  /** How long one call may keep failing and waiting before the mission is told the model is unavailable (LLM_RETRY_BUDGET_S). */
  budgetMs: number;
  /** The first backoff's ceiling; each next one doubles it, up to capMs. */
  baseMs?: number;
  capMs?: number;
}

const BASE_MS = 1_000;
const CAP_MS = 60_000;

/**
 * Calls again while the endpoint is unavailable (ModelUnavailableError): after the wait it asked for, with up to
 * a base of jitter so callers told the same do not come back at once, or else after a backoff with full jitter
 * (a random wait up to base x 2^attempt, capped). It gives up, with ModelUnavailableError saying for how long and
 * why, once the next wait would take the call past its budget; the mission's signal (cancel, deadline) stops it
 * sooner. Any other error is the mission's and passes at once.
 */
export function retryingChatCompletion(complete: ChatCompletion, { budgetMs, baseMs = BASE_MS, capMs = CAP_MS }: RetryOptions): ChatCompletion {
  return async (request, signal, callIndex) => {
    let firstFailure: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        return await complete(request, signal, callIndex);
      } catch (error) {
        if (!(error instanceof ModelUnavailableError) || signal.aborted) throw error;
        firstFailure ??= Date.now();
        const wait = error.retryAfterMs !== undefined ? error.retryAfterMs + Math.random() * baseMs : Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
        const failingFor = Date.now() - firstFailure;
        if (failingFor + wait > budgetMs) {
          throw new ModelUnavailableError(`the model endpoint was unavailable for ${Math.round(failingFor / 1_000)} s of a retry budget of ${Math.round(budgetMs / 1_000)} s: ${error.message}`);
        }
        await sleep(wait, undefined, { signal });
      }
    }
  };
}

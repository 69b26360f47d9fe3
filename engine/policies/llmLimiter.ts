import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from '../../lib/redis';
import { redisPace } from './llmPace';
import { ModelUnavailableError } from './modelErrors';
import type { ChatCompletion } from './openai';

export interface LlmLimits {
  /** Requests per window per endpoint, across every worker sharing the Redis. */
  requestsPerWindow: number;
  /** Tokens (prompt + completion, as the endpoint reports them) per window per endpoint. */
  tokensPerWindow: number;
  /** The window; providers count per minute. Default 60 s. */
  windowMs?: number;
  /** Calls in a row that found the endpoint unavailable, which open the circuit. Default 5. */
  breakerFailures?: number;
  /** How long an open circuit first sends nothing before one call goes through to try it; doubled at each try that fails, up to 16 times. Default 5 s. */
  breakerCooldownMs?: number;
}

/** What the limiter reports of one endpoint's calls (workers/observe.ts turns it into metrics). */
export interface LlmObserver {
  /** A call waited `ms` for the fleet-wide limits, for its slot at `slotAt` (Redis's clock, in ms). */
  waited(ms: number, slotAt: number): void;
  /** A call (its retries included) took this long, and succeeded or not. */
  called(ms: number, ok: boolean): void;
  /** The circuit breaker opened, or closed again. */
  breaker(open: boolean): void;
}

/** The wait a call is told while one call tries an endpoint whose circuit opened. */
const PROBE_WAIT_MS = 1_000;
/** The answer a call is taken to have before it is sent, when it names no max_tokens. */
const ANSWER_TOKENS = 512;

/** What a call is taken to use before it is sent: its text at four characters a token, and the answer it allows. */
function estimatedTokens(request: unknown): number {
  const { max_tokens: maxTokens, max_completion_tokens: maxCompletion } = request as { max_tokens?: number; max_completion_tokens?: number };
  return Math.ceil(JSON.stringify(request).length / 4) + (maxCompletion ?? maxTokens ?? ANSWER_TOKENS);
}

/**
 * Holds calls to one model endpoint under the provider's limits for the whole fleet, paced (llmPace.ts: each
 * call a slot of its own, window/limit apart, its tokens reserved before it is sent and settled after), and stops
 * calling an endpoint that keeps being unavailable (a circuit breaker per process). While the circuit is open,
 * calls are not sent but answered ModelUnavailableError with the cooldown left as the wait, so they wait
 * (retryingChatCompletion) rather than fail; then a single call tries the endpoint, and the others wait on it.
 * Errors of the mission's own (a 400) say nothing of the endpoint and leave the circuit alone.
 */
export function limitedChatCompletion(
  complete: ChatCompletion,
  redis: Redis,
  prefix: string,
  endpoint: string,
  limits: LlmLimits,
  observer?: LlmObserver,
): ChatCompletion {
  const windowMs = limits.windowMs ?? 60_000;
  const id = createHash('sha256').update(endpoint).digest('hex').slice(0, 16);
  const pace = redisPace(redis, `${prefix}:llm:${id}:pace`, { requestsPerWindow: limits.requestsPerWindow, tokensPerWindow: limits.tokensPerWindow, windowMs });
  let failuresInARow = 0;
  let openUntil = 0;
  let probing = false;
  let failedProbes = 0;

  const cooldownMs = () => (limits.breakerCooldownMs ?? 5_000) * 2 ** Math.min(failedProbes, 4);
  const refuseWhileOpen = () => {
    if (Date.now() < openUntil) throw new ModelUnavailableError(`the model endpoint was unavailable ${failuresInARow} times in a row; the circuit is open`, openUntil - Date.now());
    if (probing) throw new ModelUnavailableError('the model endpoint is being tried after its circuit opened', PROBE_WAIT_MS);
    // The cooldown is over: this call tries the endpoint while the others wait on it.
    if (openUntil !== 0) probing = true;
  };

  const call: (probe: boolean, ...args: Parameters<ChatCompletion>) => Promise<unknown> = async (probe, request, signal, callIndex) => {
    const estimated = estimatedTokens(request);
    const { waitMs, slotAt } = await pace.reserve(estimated);
    if (waitMs > 0) await sleep(waitMs, undefined, { signal });
    observer?.waited(waitMs, slotAt);
    const callStarted = performance.now();
    try {
      const response = await complete(request, signal, callIndex);
      observer?.called(performance.now() - callStarted, true);
      failuresInARow = 0;
      failedProbes = 0;
      if (openUntil !== 0) {
        openUntil = 0;
        observer?.breaker(false);
      }
      const used = (response as { usage?: { total_tokens?: number } })?.usage?.total_tokens;
      if (used) await pace.settle(estimated, used);
      return response;
    } catch (error) {
      observer?.called(performance.now() - callStarted, false);
      if (error instanceof ModelUnavailableError && !signal.aborted) {
        failuresInARow++;
        // A probe that fails opens the circuit again; enough failures in a row open it.
        if (probe) failedProbes++;
        if (probe || (openUntil === 0 && failuresInARow >= (limits.breakerFailures ?? 5))) {
          if (openUntil === 0) observer?.breaker(true);
          openUntil = Date.now() + cooldownMs();
        }
      }
      throw error;
    }
  };

  return async (request, signal, callIndex) => {
    refuseWhileOpen();
    const probe = probing;
    try {
      return await call(probe, request, signal, callIndex);
    } finally {
      if (probe) probing = false;
    }
  };
}

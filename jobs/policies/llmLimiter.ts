import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from '../../lib/redis';
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
  /** A call waited `ms` for the fleet-wide limits, and was admitted in the window numbered `window` (time / window length). */
  waited(ms: number, window: number): void;
  /** A call (its retries included) took this long, and succeeded or not. */
  called(ms: number, ok: boolean): void;
  /** The circuit breaker opened, or closed again. */
  breaker(open: boolean): void;
}

/**
 * Holds calls to one model endpoint under the provider's limits for the whole fleet (fixed windows counted in
 * Redis: a call waits for the next window when this one is spent), and stops calling an endpoint that keeps
 * being unavailable (a circuit breaker per process). While the circuit is open, calls are not sent but answered
 * ModelUnavailableError with the cooldown left as the wait, so they wait (retryingChatCompletion) rather than
 * fail; then a single call tries the endpoint, and the others wait on it. Errors of the mission's own (a 400)
 * say nothing of the endpoint and leave the circuit alone.
 */
const PROBE_WAIT_MS = 1_000;

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
  const key = (kind: string, window: number) => `${prefix}:llm:${id}:${kind}:${window}`;
  let failuresInARow = 0;
  let openUntil = 0;
  let probing = false;
  let failedProbes = 0;

  const admit = async (signal: AbortSignal) => {
    for (;;) {
      const window = Math.floor(Date.now() / windowMs);
      const [[, requests], , [, tokens]] = (await redis
        .multi()
        .incr(key('requests', window))
        .pexpire(key('requests', window), windowMs * 2)
        .get(key('tokens', window))
        .exec()) as [[null, number], unknown, [null, string | null]];
      if (requests <= limits.requestsPerWindow && Number(tokens ?? 0) < limits.tokensPerWindow) return window;
      await sleep((window + 1) * windowMs - Date.now() + Math.random() * 50, undefined, { signal });
    }
  };

  const cooldownMs = () => (limits.breakerCooldownMs ?? 5_000) * 2 ** Math.min(failedProbes, 4);
  const refuseWhileOpen = () => {
    if (Date.now() < openUntil) throw new ModelUnavailableError(`the model endpoint was unavailable ${failuresInARow} times in a row; the circuit is open`, openUntil - Date.now());
    if (probing) throw new ModelUnavailableError('the model endpoint is being tried after its circuit opened', PROBE_WAIT_MS);
    // The cooldown is over: this call tries the endpoint while the others wait on it.
    if (openUntil !== 0) probing = true;
  };

  const call: (probe: boolean, ...args: Parameters<ChatCompletion>) => Promise<unknown> = async (probe, request, signal, callIndex) => {
    const waitStarted = performance.now();
    const window = await admit(signal);
    const callStarted = performance.now();
    observer?.waited(callStarted - waitStarted, window);
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
      if (used) {
        await redis.multi().incrby(key('tokens', window), used).pexpire(key('tokens', window), windowMs * 2).exec();
      }
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

import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from '../../lib/redis';
import type { ChatCompletion } from './openai';

export interface LlmLimits {
  /** Requests per window per endpoint, across every worker sharing the Redis. */
  requestsPerWindow: number;
  /** Tokens (prompt + completion, as the endpoint reports them) per window per endpoint. */
  tokensPerWindow: number;
  /** The window; providers count per minute. Default 60 s. */
  windowMs?: number;
  /** Failed calls in a row (after retries) that open the circuit. Default 5. */
  breakerFailures?: number;
  /** How long an open circuit fails calls at once before letting one through. Default 30 s. */
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
 * failing (a circuit breaker per process).
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
  const key = (kind: string, window: number) => `${prefix}:llm:${id}:${kind}:${window}`;
  let failuresInARow = 0;
  let openUntil = 0;

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

  return async (request, signal, callIndex) => {
    if (Date.now() < openUntil) throw new Error(`the model endpoint failed ${failuresInARow} times in a row; not calling it until the circuit closes`);
    if (openUntil !== 0) {
      openUntil = 0;
      observer?.breaker(false);
    }
    const waitStarted = performance.now();
    const window = await admit(signal);
    const callStarted = performance.now();
    observer?.waited(callStarted - waitStarted, window);
    try {
      const response = await complete(request, signal, callIndex);
      observer?.called(performance.now() - callStarted, true);
      failuresInARow = 0;
      const used = (response as { usage?: { total_tokens?: number } })?.usage?.total_tokens;
      if (used) {
        await redis.multi().incrby(key('tokens', window), used).pexpire(key('tokens', window), windowMs * 2).exec();
      }
      return response;
    } catch (error) {
      observer?.called(performance.now() - callStarted, false);
      if (!signal.aborted && ++failuresInARow >= (limits.breakerFailures ?? 5) && openUntil === 0) {
        openUntil = Date.now() + (limits.breakerCooldownMs ?? 30_000);
        observer?.breaker(true);
      }
      throw error;
    }
  };
}

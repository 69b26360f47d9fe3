/**
 * The endpoint's fault, not the mission's: a 429, a 5xx, a timeout, a connection that failed, a circuit open.
 * Worth waiting for; `retryAfterMs` is what the endpoint asked for (Retry-After, x-ratelimit-reset-*), if it did.
 */
export class ModelUnavailableError extends Error {
  readonly code = 'ERR_MODEL_UNAVAILABLE';

  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The mission's history no longer fits the model's context: sending it again changes nothing. */
export class ContextTooLongError extends Error {
  readonly code = 'ERR_CONTEXT_LENGTH';
}

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * How long an endpoint asked to wait, from `Retry-After` (seconds or an HTTP date) or OpenAI's
 * `x-ratelimit-reset-requests` / `-tokens` (durations such as `1s`, `6m0s`, `20ms`): the longest said.
 */
export function retryAfterOf(headers: Record<string, string | string[] | undefined>, now = Date.now()): number | undefined {
  const waits: number[] = [];
  const retryAfter = headers['retry-after'];
  if (typeof retryAfter === 'string') {
    const seconds = Number(retryAfter);
    const at = Date.parse(retryAfter);
    if (retryAfter.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) waits.push(seconds * 1_000);
    else if (Number.isFinite(at)) waits.push(Math.max(0, at - now));
  }
  for (const name of ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']) {
    const value = headers[name];
    if (typeof value !== 'string' || !/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value)) continue;
    waits.push([...value.matchAll(DURATION_PART)].reduce((sum, [, amount, unit]) => sum + Number(amount) * UNIT_MS[unit!]!, 0));
  }
  return waits.length > 0 ? Math.max(...waits) : undefined;
}

/** A failed policy's code: the model unavailable past its budget, a context too long, or ERR_POLICY for the rest. */
export function policyErrorCode(error: unknown): string {
  return error instanceof ModelUnavailableError || error instanceof ContextTooLongError ? error.code : 'ERR_POLICY';
}

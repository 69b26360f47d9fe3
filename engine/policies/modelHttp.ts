import { isIP } from 'node:net';
import { httpPost, ResponseTooLargeError } from '../../lib/httpPost';
import { hostOf, isPublicAddress } from '../../lib/publicAddress';
import { ContextTooLongError, ModelUnavailableError, retryAfterOf } from './modelErrors';

export interface ModelHttpOptions {
  baseUrl: string;
  /** The endpoint's key, sent to this base URL only (how, the wire format says). */
  apiKey?: string;
  timeoutMs: number;
  /** A tenant's own URL: connect only to public addresses, checked on the address actually connected to. */
  publicOnly?: boolean;
}

/** A model's answer larger than this is refused: a hostile endpoint must not fill the worker's memory. */
const MAX_RESPONSE_BYTES = 16 << 20;

/** How endpoints say a request's messages are more than the model takes (OpenAI, Anthropic, vLLM, llama.cpp). */
const CONTEXT_TOO_LONG = /context_length_exceeded|maximum context length|context length|too many tokens|prompt is too long/i;

/**
 * A POST to `path` under the base URL, once, answered with the parsed JSON. Redirects are not followed, so a call
 * goes to the configured address and nowhere else. A 429, 408, 5xx (Anthropic's 529 among them), a timeout or a
 * failed connection is ModelUnavailableError, with the wait the endpoint asked for (retryingChatCompletion
 * waits); a 400 about the context's length is ContextTooLongError; any other answer an Error. The key never
 * appears in what is thrown.
 */
export function modelPost(options: ModelHttpOptions, path: string, headers: Record<string, string>): (body: unknown, signal: AbortSignal) => Promise<unknown> {
  const url = new URL(`${options.baseUrl.replace(/\/+$/, '')}${path}`);
  const scrub = (text: string) => (options.apiKey ? text.replaceAll(options.apiKey, '[redacted]') : text);
  return async (body, signal) => {
    if (options.publicOnly && isIP(hostOf(url)) && !isPublicAddress(hostOf(url))) {
      throw new Error(`refused to call ${url.host}: it is not a public address`);
    }
    let response: Awaited<ReturnType<typeof httpPost>>;
    // The call's own signal: the mission's, or the timeout. Its listener on the mission's signal goes with the
    // call, so a mission of a thousand calls does not gather a thousand.
    const call = new AbortController();
    const stop = () => call.abort(signal.reason);
    signal.addEventListener('abort', stop, { once: true });
    const timer = setTimeout(() => call.abort(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    try {
      const sent = { headers: { 'content-type': 'application/json', ...headers }, signal: call.signal, publicOnly: options.publicOnly, maxResponseBytes: MAX_RESPONSE_BYTES };
      response = await httpPost(url, JSON.stringify(body), sent);
    } catch (error) {
      if (signal.aborted) throw error;
      if (error instanceof ResponseTooLargeError) throw new Error(`the model's answer is over ${MAX_RESPONSE_BYTES} bytes`);
      if ((error as { code?: string }).code === 'ERR_NOT_PUBLIC') throw new Error((error as Error).message);
      throw new ModelUnavailableError(scrub(`the model endpoint could not be reached: ${(error as Error).message}`));
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
    }
    if (response.status >= 200 && response.status < 300) return JSON.parse(response.text) as unknown;
    const failure = scrub(`the model endpoint answered ${response.status}: ${response.text.slice(0, 200)}`);
    if (response.status === 429 || response.status === 408 || response.status >= 500) throw new ModelUnavailableError(failure, retryAfterOf(response.headers));
    if (response.status === 400 && CONTEXT_TOO_LONG.test(response.text)) throw new ContextTooLongError(failure);
    throw new Error(failure);
  };
}

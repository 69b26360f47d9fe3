import { isIP } from 'node:net';
import { httpPost, ResponseTooLargeError } from '../../lib/httpPost';
import { hostOf, isPublicAddress } from '../../lib/publicAddress';
import { ContextTooLongError, ModelUnavailableError, retryAfterOf } from './modelErrors';
import type { ChatCompletion } from './openai';

export interface ChatHttpOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer`, to this base URL only. */
  apiKey?: string;
  timeoutMs: number;
  /** A tenant's own URL: connect only to public addresses, checked on the address actually connected to. */
  publicOnly?: boolean;
}

/** A model's answer larger than this is refused: a hostile endpoint must not fill the worker's memory. */
const MAX_RESPONSE_BYTES = 16 << 20;

/** How an endpoint says a request's messages are more than the model takes (OpenAI, vLLM, llama.cpp). */
const CONTEXT_TOO_LONG = /context_length_exceeded|maximum context length|context length|too many tokens/i;

/**
 * POST {baseUrl}/chat/completions, once, as OpenAI, vLLM, Ollama and llama.cpp's server all accept it. Redirects
 * are not followed, so a call goes to the configured address and nowhere else. A 429, a 5xx, a timeout or a
 * failed connection is ModelUnavailableError (with the wait the endpoint asked for): retryingChatCompletion waits.
 */
export function httpChatCompletion(options: ChatHttpOptions): ChatCompletion {
  const url = new URL(`${options.baseUrl.replace(/\/+$/, '')}/chat/completions`);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  // Whatever an endpoint answers is shown in the mission's error: never with the key in it.
  const scrub = (text: string) => (options.apiKey ? text.replaceAll(options.apiKey, '[redacted]') : text);
  return async (request, signal) => {
    if (options.publicOnly && isIP(hostOf(url)) && !isPublicAddress(hostOf(url))) {
      throw new Error(`refused to call ${url.host}: it is not a public address`);
    }
    let response: Awaited<ReturnType<typeof httpPost>>;
    try {
      const timeout = AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)]);
      response = await httpPost(url, JSON.stringify(request), { headers, signal: timeout, publicOnly: options.publicOnly, maxResponseBytes: MAX_RESPONSE_BYTES });
    } catch (error) {
      if (signal.aborted) throw error;
      if (error instanceof ResponseTooLargeError) throw new Error(`the model's answer is over ${MAX_RESPONSE_BYTES} bytes`);
      if ((error as { code?: string }).code === 'ERR_NOT_PUBLIC') throw new Error((error as Error).message);
      throw new ModelUnavailableError(scrub(`the model endpoint could not be reached: ${(error as Error).message}`));
    }
    if (response.status >= 200 && response.status < 300) return JSON.parse(response.text) as unknown;
    const failure = scrub(`the model endpoint answered ${response.status}: ${response.text.slice(0, 200)}`);
    if (response.status === 429 || response.status === 408 || response.status >= 500) throw new ModelUnavailableError(failure, retryAfterOf(response.headers));
    if (response.status === 400 && CONTEXT_TOO_LONG.test(response.text)) throw new ContextTooLongError(failure);
    throw new Error(failure);
  };
}

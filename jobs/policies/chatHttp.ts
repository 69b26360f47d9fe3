import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { httpPost, ResponseTooLargeError } from '../../lib/httpPost';
import { hostOf, isPublicAddress } from '../../lib/publicAddress';
import type { ChatCompletion } from './openai';

export interface ChatHttpOptions {
  baseUrl: string;
  /** Sent as `Authorization: Bearer`, to this base URL only. */
  apiKey?: string;
  timeoutMs: number;
  /** Tries after the first, on 429, 5xx and network errors, waiting 0.5 s, 1 s, 2 s... Default 3. */
  retries?: number;
  /** A tenant's own URL: connect only to public addresses, checked on the address actually connected to. */
  publicOnly?: boolean;
}

/** A model's answer larger than this is refused: a hostile endpoint must not fill the worker's memory. */
const MAX_RESPONSE_BYTES = 16 << 20;

class NotRetryable extends Error {}

/**
 * POST {baseUrl}/chat/completions, as OpenAI, vLLM, Ollama and llama.cpp's server all accept it. Redirects are
 * not followed, so a call goes to the configured address and nowhere else.
 */
export function httpChatCompletion(options: ChatHttpOptions): ChatCompletion {
  const url = new URL(`${options.baseUrl.replace(/\/+$/, '')}/chat/completions`);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  // Whatever an endpoint answers is shown in the mission's error: never with the key in it.
  const scrub = (text: string) => (options.apiKey ? text.replaceAll(options.apiKey, '[redacted]') : text);
  const retries = options.retries ?? 3;
  return async (request, signal) => {
    if (options.publicOnly && isIP(hostOf(url)) && !isPublicAddress(hostOf(url))) {
      throw new Error(`refused to call ${url.host}: it is not a public address`);
    }
    for (let attempt = 0; ; attempt++) {
      let failure: string;
      try {
        const timeout = AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)]);
        const response = await httpPost(url, JSON.stringify(request), { headers, signal: timeout, publicOnly: options.publicOnly, maxResponseBytes: MAX_RESPONSE_BYTES });
        if (response.status >= 200 && response.status < 300) return JSON.parse(response.text) as unknown;
        failure = scrub(`the model endpoint answered ${response.status}: ${response.text.slice(0, 200)}`);
        if (response.status !== 429 && response.status < 500) throw new NotRetryable(failure);
      } catch (error) {
        if (signal.aborted || error instanceof NotRetryable) throw error;
        if (error instanceof ResponseTooLargeError) throw new Error(`the model's answer is over ${MAX_RESPONSE_BYTES} bytes`);
        if ((error as { code?: string }).code === 'ERR_NOT_PUBLIC') throw new Error((error as Error).message);
        failure = scrub(`the model endpoint could not be reached: ${(error as Error).message}`);
      }
      if (attempt >= retries) throw new Error(failure);
      await sleep(500 * 2 ** attempt, undefined, { signal });
    }
  };
}

import { setTimeout as sleep } from 'node:timers/promises';
import type { ChatCompletion } from './openai';

export interface ChatHttpOptions {
  baseUrl: string;
  apiKey?: string;
  timeoutMs: number;
  /** Tries after the first, on 429, 5xx and network errors, waiting 0.5 s, 1 s, 2 s... Default 3. */
  retries?: number;
}

class NotRetryable extends Error {}

/** POST {baseUrl}/chat/completions, as OpenAI, vLLM, Ollama and llama.cpp's server all accept it. */
export function httpChatCompletion(options: ChatHttpOptions): ChatCompletion {
  const url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const retries = options.retries ?? 3;
  return async (request, signal) => {
    for (let attempt = 0; ; attempt++) {
      let failure: string;
      try {
        const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(request), signal: AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs)]) });
        if (response.ok) return await response.json();
        failure = `the model endpoint answered ${response.status}: ${(await response.text()).slice(0, 200)}`;
        if (response.status !== 429 && response.status < 500) throw new NotRetryable(failure);
      } catch (error) {
        if (signal.aborted || error instanceof NotRetryable) throw error;
        failure = `the model endpoint could not be reached: ${(error as Error).message}`;
      }
      if (attempt >= retries) throw new Error(failure);
      await sleep(500 * 2 ** attempt, undefined, { signal });
    }
  };
}

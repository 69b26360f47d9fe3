import { modelPost, type ModelHttpOptions } from './modelHttp';
import type { ChatCompletion } from './openai';

/**
 * POST {baseUrl}/chat/completions, as OpenAI, vLLM, Ollama and llama.cpp's server all accept it, with the key as
 * `Authorization: Bearer`. The policies speak this format; other wire formats translate to it (anthropicHttp.ts).
 */
export function httpChatCompletion(options: ModelHttpOptions): ChatCompletion {
  const post = modelPost(options, '/chat/completions', options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {});
  return (request, signal) => post(request, signal);
}

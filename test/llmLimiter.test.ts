import { limitedChatCompletion } from '../jobs/policies/llmLimiter';
import type { ChatCompletion } from '../jobs/policies/openai';
import { loadConfig } from '../lib/config';
import { createRedis } from '../lib/redis';
import { deleteKeys } from './harness';

// Real Redis; the model endpoint is not what is tested here, so a function stands in for it.
const config = loadConfig();
const redis = createRedis(config, 'worker');
const prefix = `{test-llm-${process.pid}}`;
const request = { model: 'm', messages: [] };
afterAll(async () => {
  await deleteKeys(config, `${prefix}:*`);
  redis.disconnect();
});

test('two workers sharing Redis stay within the requests-per-window limit together', async () => {
  let calls = 0;
  const endpoint: ChatCompletion = async () => (calls++, { usage: { total_tokens: 1 } });
  const limits = { requestsPerWindow: 5, tokensPerWindow: 1_000, windowMs: 1_000 };
  // Calls are counted in the windows the limiter admitted them in: a call admitted at the end of one window
  // may reach the endpoint in the next, so the endpoint's own clock would count two windows as one.
  const perWindow = new Map<number, number>();
  const observer = { waited: (_ms: number, window: number) => perWindow.set(window, (perWindow.get(window) ?? 0) + 1), called() {}, breaker() {} };
  const workers = [1, 2].map(() => limitedChatCompletion(endpoint, redis, prefix, 'http://model-a', limits, observer));
  const signal = new AbortController().signal;

  await Promise.all(workers.flatMap((complete) => Array.from({ length: 7 }, (_, i) => complete(request, signal, i))));

  expect(calls).toBe(14);
  expect([...perWindow.values()].reduce((sum, count) => sum + count)).toBe(14);
  expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(5);
  expect(perWindow.size).toBeGreaterThanOrEqual(3);
});

test('the token budget holds calls back once the window has used it', async () => {
  const endpoint: ChatCompletion = async () => ({ usage: { total_tokens: 600 } });
  const windows: number[] = [];
  const observer = { waited: (_ms: number, window: number) => windows.push(window), called() {}, breaker() {} };
  const complete = limitedChatCompletion(endpoint, redis, prefix, 'http://model-b', { requestsPerWindow: 100, tokensPerWindow: 1_000, windowMs: 1_000 }, observer);
  const signal = new AbortController().signal;

  for (let i = 0; i < 3; i++) await complete(request, signal, i);

  // 600 + 600 spends the 1,000-token window: the third call had to wait for the next one.
  expect(windows[2]).toBeGreaterThan(windows[0]!);
});

test('an endpoint that keeps failing opens the circuit: calls fail at once without reaching it', async () => {
  let reached = 0;
  const endpoint: ChatCompletion = async () => {
    reached++;
    throw new Error('the model endpoint answered 503');
  };
  const complete = limitedChatCompletion(endpoint, redis, prefix, 'http://model-c', { requestsPerWindow: 100, tokensPerWindow: 1_000, breakerFailures: 3, breakerCooldownMs: 60_000 });
  const signal = new AbortController().signal;

  for (let i = 0; i < 3; i++) await expect(complete(request, signal, i)).rejects.toThrow('503');
  await expect(complete(request, signal, 3)).rejects.toThrow(/until the circuit closes/);

  expect(reached).toBe(3);
});

import { limitedChatCompletion } from '../jobs/policies/llmLimiter';
import { ModelUnavailableError } from '../jobs/policies/modelErrors';
import type { ChatCompletion } from '../jobs/policies/openai';
import { loadConfig } from '../lib/config';
import { createRedis } from '../lib/redis';
import { deleteKeys } from './harness';
import { waitFor } from './waitFor';

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

test('an endpoint that keeps being unavailable opens the circuit: calls are told to wait, without reaching it; then one call tries it', async () => {
  let reached = 0;
  let down = true;
  const endpoint: ChatCompletion = async () => {
    reached++;
    if (down) throw new ModelUnavailableError('the model endpoint answered 503');
    return { usage: { total_tokens: 1 } };
  };
  const breaker: boolean[] = [];
  const observer = { waited() {}, called() {}, breaker: (open: boolean) => breaker.push(open) };
  const complete = limitedChatCompletion(endpoint, redis, prefix, 'http://model-c', { requestsPerWindow: 100, tokensPerWindow: 1_000, breakerFailures: 3, breakerCooldownMs: 300 }, observer);
  const signal = new AbortController().signal;

  for (let i = 0; i < 3; i++) await expect(complete(request, signal, i)).rejects.toThrow('503');
  const refused = await complete(request, signal, 3).catch((error: unknown) => error);
  expect(refused).toBeInstanceOf(ModelUnavailableError);
  expect((refused as ModelUnavailableError).retryAfterMs).toBeGreaterThan(0);
  expect((refused as ModelUnavailableError).retryAfterMs).toBeLessThanOrEqual(300);
  expect(reached).toBe(3);

  // After the cooldown, one call tries the endpoint and the others are told to wait on it.
  const cooledAt = Date.now() + (refused as ModelUnavailableError).retryAfterMs!;
  await waitFor(async () => Date.now() >= cooledAt, 5_000, 'the cooldown ends');
  down = false;
  const probe = complete(request, signal, 5);
  await expect(complete(request, signal, 6)).rejects.toThrow(/being tried/);
  await probe;
  await complete(request, signal, 7);
  expect(breaker).toEqual([true, false]);
});

test("a mission's own error (a 400) leaves the circuit closed however often it comes", async () => {
  let reached = 0;
  const endpoint: ChatCompletion = async () => {
    reached++;
    throw new Error('the model endpoint answered 400: bad request');
  };
  const complete = limitedChatCompletion(endpoint, redis, prefix, 'http://model-d', { requestsPerWindow: 100, tokensPerWindow: 1_000, breakerFailures: 2 });
  const signal = new AbortController().signal;
  for (let i = 0; i < 5; i++) await expect(complete(request, signal, i)).rejects.toThrow('400');
  expect(reached).toBe(5);
});

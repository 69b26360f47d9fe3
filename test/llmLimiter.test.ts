import { limitedChatCompletion } from '../engine/policies/llmLimiter';
import { ModelUnavailableError } from '../engine/policies/modelErrors';
import type { ChatCompletion } from '../engine/policies/openai';
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
  const limits = { requestsPerWindow: 5, tokensPerWindow: 1_000_000, windowMs: 1_000 };
  // Calls are counted in the windows of the slots they were given: a call admitted at the end of one window may
  // reach the endpoint in the next, so the endpoint's own clock would count two windows as one.
  const slots: number[] = [];
  const observer = { waited: (_ms: number, slotAt: number) => slots.push(slotAt), called() {}, breaker() {} };
  const workers = [1, 2].map(() => limitedChatCompletion(endpoint, redis, prefix, 'http://model-a', limits, observer));
  const signal = new AbortController().signal;

  await Promise.all(workers.flatMap((complete) => Array.from({ length: 7 }, (_, i) => complete(request, signal, i))));

  expect(calls).toBe(14);
  const perWindow = new Map<number, number>();
  for (const slot of slots) perWindow.set(Math.floor(slot / 1_000), (perWindow.get(Math.floor(slot / 1_000)) ?? 0) + 1);
  expect(Math.max(...perWindow.values())).toBeLessThanOrEqual(5);
  expect(perWindow.size).toBeGreaterThanOrEqual(3);
  // No herd: each call had a slot of its own, a fifth of the window after the one before.
  const sorted = [...slots].sort((a, b) => a - b);
  expect(sorted.slice(1).map((slot, at) => slot - sorted[at]!).every((gap) => gap >= 199)).toBe(true);
});

test('the token budget holds calls back once the window has used it', async () => {
  const endpoint: ChatCompletion = async () => ({ usage: { total_tokens: 600 } });
  const windows: number[] = [];
  const observer = { waited: (_ms: number, slotAt: number) => windows.push(Math.floor(slotAt / 1_000)), called() {}, breaker() {} };
  const complete = limitedChatCompletion(endpoint, redis, prefix, 'http://model-b', { requestsPerWindow: 100, tokensPerWindow: 1_000, windowMs: 1_000 }, observer);
  const signal = new AbortController().signal;

  for (let i = 0; i < 3; i++) await complete(request, signal, i);

  // 600 + 600 spends the 1,000-token window: the third call had to wait for the next one.
  expect(windows[2]).toBeGreaterThan(windows[0]!);
});

test('a call reserves its tokens before it is sent: two at once with room for one wait for each other', async () => {
  const endpoint: ChatCompletion = async () => ({ usage: { total_tokens: 810 } });
  const slots: number[] = [];
  const observer = { waited: (_ms: number, slotAt: number) => slots.push(slotAt), called() {}, breaker() {} };
  const complete = limitedChatCompletion(endpoint, redis, prefix, 'http://model-e', { requestsPerWindow: 100, tokensPerWindow: 1_000, windowMs: 1_000 }, observer);
  const signal = new AbortController().signal;
  const asking = { ...request, max_tokens: 800 };

  await Promise.all([complete(asking, signal, 0), complete(asking, signal, 1)]);

  // 800 tokens of answer and the request's own are reserved by the first: the second's slot is 0.8 s on at least.
  expect(Math.abs(slots[1]! - slots[0]!)).toBeGreaterThanOrEqual(800);
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
  const complete = limitedChatCompletion(endpoint, redis, prefix, 'http://model-c', { requestsPerWindow: 100_000, tokensPerWindow: 1e9, breakerFailures: 3, breakerCooldownMs: 300 }, observer);
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
  const complete = limitedChatCompletion(endpoint, redis, prefix, 'http://model-d', { requestsPerWindow: 100_000, tokensPerWindow: 1e9, breakerFailures: 2 });
  const signal = new AbortController().signal;
  for (let i = 0; i < 5; i++) await expect(complete(request, signal, i)).rejects.toThrow('400');
  expect(reached).toBe(5);
});

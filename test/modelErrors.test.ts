import { retryAfterOf } from '../engine/policies/modelErrors';

// What providers say about when to come back: Retry-After in seconds or as a date, OpenAI's reset durations.
test.each([
  [{ 'retry-after': '2' }, 2_000],
  [{ 'retry-after': '0.5' }, 500],
  [{ 'retry-after': new Date(Date.UTC(2026, 0, 1, 0, 0, 30)).toUTCString() }, 30_000],
  [{ 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' }, 360_000],
  [{ 'x-ratelimit-reset-tokens': '20ms' }, 20],
  [{ 'retry-after': '1', 'x-ratelimit-reset-requests': '1.5s' }, 1_500],
  [{ 'retry-after': 'soon' }, undefined],
  [{ 'retry-after': '' }, undefined],
  [{ 'x-ratelimit-reset-requests': '1 hour' }, undefined],
  [{}, undefined],
])('%j asks for a wait of %s ms', (headers, wait) => {
  expect(retryAfterOf(headers, Date.UTC(2026, 0, 1))).toBe(wait);
});

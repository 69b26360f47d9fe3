import { failure, startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { usePlatform } from './platform';

// A model's bad minute as providers have them: it limits (429 with Retry-After), then is down (503), then comes
// back. The mission waits it out with the default retry budget (LLM_RETRY_BUDGET_S, 600 s) and succeeds.
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({ env: () => ({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'm' }) });

/** How long the endpoint answers 503 to everything, once the first call has been limited. */
const OUTAGE_MS = 10_000;

test('a mission outlasts 429s with Retry-After and a 10 s outage, honouring the waits it was asked for', async () => {
  const answeredAt: { at: number; status: number }[] = [];
  let outageEnds = 0;
  llm.answerWith(() => {
    const at = Date.now();
    // The first call: limited twice, asked to come back after 1 s. The second: the endpoint goes down for OUTAGE_MS.
    const reply =
      answeredAt.length < 2 ? failure(429, { 'retry-after': '1' }, 'Rate limit reached')
      : answeredAt.length === 2 ? toolCall('shell', { command: 'echo first' })
      : (outageEnds ||= at + OUTAGE_MS) > at ? failure(503, {}, 'overloaded')
      : answeredAt.filter((one) => one.status === 200).length === 1 ? toolCall('shell', { command: 'echo second' })
      : toolCall('finish', { result: 'done' });
    answeredAt.push({ at, status: 'status' in reply ? (reply as { status: number }).status : 200 });
    return reply;
  });

  const created = await context.platform.request('POST', '/v1/missions', { goal: 'through a bad minute', policy: 'openai', max_steps: 5 });
  const { id } = (await created.json()) as { id: string };
  const mission = await context.platform.waitForMission(id, 120_000);

  expect(mission).toMatchObject({ status: 'succeeded', result: 'done', step_count: 3 });
  const statuses = answeredAt.map((one) => one.status);
  expect(statuses.slice(0, 3)).toEqual([429, 429, 200]);
  expect(statuses.filter((status) => status === 503).length).toBeGreaterThan(0);
  // Retry-After: 1 was honoured: the next try came no sooner than a second later.
  expect(answeredAt[1]!.at - answeredAt[0]!.at).toBeGreaterThanOrEqual(1_000);
  expect(answeredAt[2]!.at - answeredAt[1]!.at).toBeGreaterThanOrEqual(1_000);
  // While it was down, the worker backed off (and its circuit opened) rather than calling in a loop.
  expect(statuses.filter((status) => status === 503).length).toBeLessThan(12);
}, 150_000);

test('a 400 saying the context is too long fails the mission at once with ERR_CONTEXT_LENGTH, without retries', async () => {
  const before = llm.requests.length;
  llm.answerWith(() => failure(400, {}, "This model's maximum context length is 8192 tokens (context_length_exceeded)"));
  const created = await context.platform.request('POST', '/v1/missions', { goal: 'too much to say', policy: 'openai' });
  const { id } = (await created.json()) as { id: string };
  const mission = await context.platform.waitForMission(id, 60_000);
  expect(mission).toMatchObject({ status: 'failed', error: { code: 'ERR_CONTEXT_LENGTH' } });
  expect(llm.requests.length - before).toBe(1);
});

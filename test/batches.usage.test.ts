import { startFakeLlm, textReply, toolCall, withUsage, type FakeLlm } from './fakeLlm';
import { pendingJobs } from './harness';
import { usePlatform } from './platform';
import { waitFor } from './waitFor';

// Model usage against a local server speaking the chat-completions wire format: tokens on each step, totals per
// mission and batch, cost from the operator's prices, and the token limits of a mission and of a batch.
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const CONCURRENCY = 4;
const context = usePlatform({
  env: () => ({
    LLM_BASE_URL: llm.baseUrl,
    LLM_MODELS: 'priced,unpriced',
    // Dollars per million tokens: a million in costs 1, a million out 2.
    LLM_PRICES: JSON.stringify({ priced: { input: 1, output: 2 } }),
    WORKER_CONCURRENCY: String(CONCURRENCY),
    SANDBOX_POOL_SIZE: '2',
  }),
});

interface Usage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number | null;
}

/** A model that runs one shell step, then answers: 100 + 10 tokens for the step, 200 + 20 for the answer. */
const oneStepThenAnswer = (request: FakeLlm['requests'][number]) =>
  request.messages.at(-1)!.role === 'tool' ? withUsage(textReply('done'), 200, 20) : withUsage(toolCall('shell', { command: 'echo step' }), 100, 10);

async function submitBatch(body: object): Promise<{ batch_id: string; items: { id: string }[] }> {
  const response = await context.platform.request('POST', '/v1/missions/batch', body);
  expect(response.status).toBe(202);
  return (await response.json()) as { batch_id: string; items: { id: string }[] };
}

const get = async <T>(path: string) => (await (await context.platform.request('GET', path)).json()) as T;
const batchEnded = (id: string) => waitFor(async () => (await get<{ status: string }>(`/v1/batches/${id}`)).status === 'ended', 60_000, 'the batch ended');

test('tokens and cost add up from each step to its mission and its batch; a model without a price makes the cost unknown, never 0', async () => {
  llm.answerWith(oneStepThenAnswer);
  const priced = { policy: 'openai', llm: { model: 'priced' } };
  const submitted = await submitBatch({ missions: [0, 1].map((i) => ({ ...priced, custom_id: `p${i}`, goal: `priced ${i}` })) });
  await batchEnded(submitted.batch_id);

  const mission = await get<{ status: string; usage: Usage; steps: { tool: string; usage: Usage & { model: string; endpoint: string } }[] }>(`/v1/missions/${submitted.items[0]!.id}`);
  expect(mission.status).toBe('succeeded');
  expect(mission.steps.map((step) => [step.tool, step.usage])).toEqual([
    ['shell', { endpoint: 'default', model: 'priced', input_tokens: 100, output_tokens: 10, cost_usd: 0.00012 }],
    ['finish', { endpoint: 'default', model: 'priced', input_tokens: 200, output_tokens: 20, cost_usd: 0.00024 }],
  ]);
  expect(mission.usage).toEqual({ input_tokens: 300, output_tokens: 30, cost_usd: 0.00036 });
  expect((await get<{ usage: Usage }>(`/v1/batches/${submitted.batch_id}`)).usage).toEqual({ input_tokens: 600, output_tokens: 60, cost_usd: 0.00072 });
  const lines = (await (await context.platform.request('GET', `/v1/batches/${submitted.batch_id}/results`)).text()).trim().split('\n').map((line) => JSON.parse(line) as { usage: Usage });
  expect(lines.map((line) => line.usage)).toEqual([mission.usage, mission.usage]);

  const mixed = await submitBatch({ missions: [{ ...priced, goal: 'priced' }, { policy: 'openai', llm: { model: 'unpriced' }, goal: 'unpriced' }] });
  await batchEnded(mixed.batch_id);
  expect((await get<{ usage: Usage }>(`/v1/missions/${mixed.items[1]!.id}`)).usage).toEqual({ input_tokens: 300, output_tokens: 30, cost_usd: null });
  expect((await get<{ usage: Usage }>(`/v1/batches/${mixed.batch_id}`)).usage).toEqual({ input_tokens: 600, output_tokens: 60, cost_usd: null });
  const metrics = await context.platform.worker!.metrics.registry.metrics();
  expect(metrics).toContain('llm_tokens_total{endpoint="default",model="unpriced",kind="input"} 300');
  expect(metrics).toContain('llm_tokens_total{endpoint="default",model="priced",kind="output"} 90');
  expect(Number(/llm_cost_usd_total\{endpoint="default",model="priced"\} (\S+)/.exec(metrics)![1])).toBeCloseTo(0.00108, 12);
});

test("a mission's token limit ends it after the call that crosses it: that call is recorded, what it chose is not done", async () => {
  llm.answerWith(() => withUsage(toolCall('shell', { command: 'echo again' }), 100, 10));
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'loops', policy: 'openai', llm: { model: 'priced' }, token_limit: 250 });
  const { id } = (await response.json()) as { id: string };

  const mission = await context.platform.waitForMission(id);

  expect(mission).toMatchObject({ status: 'failed', error: { code: 'ERR_TOKEN_LIMIT', step: 3 } });
  expect(mission.steps.map((step) => [step.tool, step.error])).toEqual([
    ['shell', null],
    ['shell', null],
    ['shell', 'this model call took the mission to 330 tokens, past its token limit of 250: what it chose was not done'],
  ]);
  expect(mission.steps[2]!.observation).toEqual({ error: expect.stringContaining('past its token limit') });
  expect((await get<{ usage: Usage }>(`/v1/missions/${id}`)).usage).toMatchObject({ input_tokens: 300, output_tokens: 30 });
});

test("a batch's token limit cancels its unfinished missions once crossed; it goes over by at most the calls in flight", async () => {
  llm.answerWith(() => withUsage(toolCall('shell', { command: 'echo again' }), 90, 10));
  const limit = 2_000;
  const submitted = await submitBatch({ token_limit: limit, missions: Array.from({ length: 12 }, (_, i) => ({ goal: `spends ${i}`, policy: 'openai', llm: { model: 'priced' } })) });

  await batchEnded(submitted.batch_id);

  const summary = await get<{ usage: Usage; counts: Record<string, number>; token_limit: number }>(`/v1/batches/${submitted.batch_id}`);
  expect(summary.token_limit).toBe(limit);
  expect(summary.counts).toMatchObject({ cancelled: 12, succeeded: 0, failed: 0 });
  const spent = summary.usage.input_tokens + summary.usage.output_tokens;
  // Each mission of a worker has at most one call in flight, of 100 tokens.
  expect(spent).toBeGreaterThan(limit);
  expect(spent).toBeLessThanOrEqual(limit + CONCURRENCY * 100);
  const errors = await context.env.db('missions').where({ batch_id: submitted.batch_id }).pluck('error');
  expect(new Set(errors.map((error: { code: string }) => error.code))).toEqual(new Set(['ERR_BATCH_TOKEN_LIMIT']));
  await waitFor(async () => (await pendingJobs(context.env.config)) === 0);
  llm.answerWith(undefined);
});

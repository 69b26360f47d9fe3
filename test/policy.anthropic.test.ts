import { startFakeAnthropic, toolUse, type FakeAnthropic } from './fakeAnthropic';
import { usePlatform } from './platform';

// An operator endpoint of kind "anthropic": the model chooses its steps through the Messages API's native tool use.
const KEY = 'sk-ant-test-key-of-this-file';
const PRICE = { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 };
let claude: FakeAnthropic;
beforeAll(async () => {
  claude = await startFakeAnthropic();
  process.env.TEST_ANTHROPIC_KEY = KEY;
});
afterAll(() => claude?.close());
const context = usePlatform({
  env: () => ({
    LLM_ENDPOINTS: JSON.stringify({ claude: { kind: 'anthropic', base_url: claude.baseUrl, api_key_env: 'TEST_ANTHROPIC_KEY', models: ['claude-test'], prices: { 'claude-test': PRICE } } }),
  }),
});

const run = (body: object) => context.platform.run(body);

test('tool use through the Messages API: each result and each tool error goes back, and usage and cost count the cache', async () => {
  claude.requests.length = 0;
  claude.reply(
    toolUse('write_file', { path: 'answer.txt', content: '42\n' }),
    toolUse('shell', { command: 'cat missing.txt' }),
    toolUse('finish', { result: { answer: 42 } }),
  );
  const mission = (await run({ goal: 'Write the answer', policy: 'openai', llm: { endpoint: 'claude', record: true } })) as Awaited<ReturnType<typeof run>> & {
    usage: { input_tokens: number; output_tokens: number; cost_usd: number };
  };

  expect(mission).toMatchObject({ status: 'succeeded', result: { answer: 42 }, step_count: 3 });
  expect(mission.steps.map((step) => [step.tool, step.thought])).toEqual([
    ['write_file', 'I will use write_file.'],
    ['shell', 'I will use shell.'],
    ['finish', 'I will use finish.'],
  ]);
  expect(claude.headers.map((headers) => [headers['x-api-key'], headers['anthropic-version'], headers.authorization])).toEqual(Array(3).fill([KEY, '2023-06-01', undefined]));
  const [first, , third] = claude.requests;
  expect(first).toMatchObject({ model: 'claude-test', max_tokens: 4_096, system: expect.stringContaining('tool'), messages: [{ role: 'user', content: [{ type: 'text', text: 'Mission: Write the answer' }] }] });
  expect(first!.tools!.map((tool) => tool.name)).toEqual(['shell', 'python', 'read_file', 'write_file', 'finish']);
  expect(first!.tools![0]!.input_schema).toMatchObject({ type: 'object', properties: { command: expect.anything() } });
  // The turns alternate; each tool use is answered by a tool_result of the same id in the next user turn.
  expect(third!.messages.map((turn) => [turn.role, turn.content.map((block) => block.type)])).toEqual([
    ['user', ['text']],
    ['assistant', ['text', 'tool_use']],
    ['user', ['tool_result']],
    ['assistant', ['text', 'tool_use']],
    ['user', ['tool_result']],
  ]);
  expect(third!.messages[2]!.content[0]!.tool_use_id).toBe(third!.messages[1]!.content[1]!.id);
  expect(third!.messages[4]!.content[0]!.content).toMatch(/exit code: 1[^]*No such file/);
  // Each call: 100 new, 1,000 cached and 50 cache-written tokens in, 20 out, at their own prices.
  const perCall = (100 * PRICE.input + 1_000 * PRICE.cache_read + 50 * PRICE.cache_write + 20 * PRICE.output) / 1e6;
  expect((mission.steps[0] as unknown as { usage: object }).usage).toMatchObject({ endpoint: 'claude', model: 'claude-test', input_tokens: 1_150, output_tokens: 20 });
  expect(mission.usage.input_tokens).toBe(3 * 1_150);
  expect(mission.usage.cost_usd).toBeCloseTo(3 * perCall, 9);

  // The recorded run replays offline, in the chat completions shape it was recorded in.
  const calls = claude.requests.length;
  const replayed = await run({ goal: 'Write the answer', policy: 'replay', replay_of: mission.id });
  expect(claude.requests).toHaveLength(calls);
  expect(replayed.steps.map((step) => [step.tool, step.observation?.exit_code])).toEqual(mission.steps.map((step) => [step.tool, step.observation?.exit_code]));
});

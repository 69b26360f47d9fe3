import { startFakeAnthropic, toolUse, type FakeAnthropic } from './fakeAnthropic';
import { startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { usePlatform } from './platform';

// A mission's own model settings reach the endpoint as sent, in both wire formats, and stay with the mission.
let llm: FakeLlm;
let claude: FakeAnthropic;
beforeAll(async () => {
  [llm, claude] = await Promise.all([startFakeLlm(), startFakeAnthropic()]);
});
afterAll(() => Promise.all([llm?.close(), claude?.close()]));
const context = usePlatform({
  worker: true,
  env: () => ({
    LLM_BASE_URL: llm.baseUrl,
    LLM_MODELS: 'test-model',
    LLM_ENDPOINTS: JSON.stringify({ claude: { kind: 'anthropic', base_url: claude.baseUrl, models: ['claude-test'] } }),
  }),
});

const SETTINGS = { temperature: 0.2, top_p: 0.9, max_tokens: 321, seed: 7, stop: ['STOP'], system_prompt: 'Answer in French.' };

test('chat completions get temperature, top_p, max_tokens, seed and stop as sent, and the system prompt appended', async () => {
  llm.requests.length = 0;
  llm.reply(toolCall('finish', { result: 'fini' }));
  const mission = await context.platform.run({ goal: 'Say done', policy: 'openai', llm: SETTINGS });

  expect(mission).toMatchObject({ status: 'succeeded', result: 'fini' });
  const [request] = llm.requests as unknown as Record<string, unknown>[];
  expect(request).toMatchObject({ temperature: 0.2, top_p: 0.9, max_tokens: 321, seed: 7, stop: ['STOP'] });
  const system = (request!.messages as { role: string; content: string }[])[0]!;
  expect(system.role).toBe('system');
  // The platform's own words on how tools work come first; the mission's are added after them.
  expect(system.content).toMatch(/tools[^]*\n\nAnswer in French\.$/);
  // Kept with the mission, so the run can be reproduced and compared.
  const stored = (await (await context.platform.request('GET', `/v1/missions/${mission.id}`)).json()) as { llm: object };
  expect(stored.llm).toMatchObject(SETTINGS);
});

test('the Messages API gets temperature, top_p, max_tokens and stop_sequences, and the system prompt appended', async () => {
  claude.requests.length = 0;
  claude.reply(toolUse('finish', { result: 'fini' }));
  const mission = await context.platform.run({ goal: 'Say done', policy: 'openai', llm: { endpoint: 'claude', ...SETTINGS } });

  expect(mission).toMatchObject({ status: 'succeeded', result: 'fini' });
  const [request] = claude.requests as unknown as Record<string, unknown>[];
  expect(request).toMatchObject({ temperature: 0.2, top_p: 0.9, max_tokens: 321, stop_sequences: ['STOP'] });
  // The Messages API has no seed: it is not sent there.
  expect(request).not.toHaveProperty('seed');
  expect(request!.system).toMatch(/\n\nAnswer in French\.$/);
});

test('the results line of a batch carries each mission model settings', async () => {
  llm.reply(toolCall('finish', { result: 1 }));
  const response = await context.platform.request('POST', '/v1/missions/batch', { missions: [{ goal: 'One', custom_id: 'a', policy: 'openai', llm: SETTINGS }] });
  const { batch_id: batchId, items } = (await response.json()) as { batch_id: string; items: { id: string }[] };
  await context.platform.waitForMission(items[0]!.id);
  const lines = (await (await context.platform.request('GET', `/v1/batches/${batchId}/results`)).text()).trim().split('\n');
  expect(JSON.parse(lines[0]!)).toMatchObject({ custom_id: 'a', status: 'succeeded', llm: SETTINGS });
});

test.each([
  [{ temperature: 3 }, 'llm.temperature'],
  [{ top_p: 0 }, 'llm.top_p'],
  [{ max_tokens: 0 }, 'llm.max_tokens'],
  [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'llm.stop'],
  [{ seed: 1.5 }, 'llm.seed'],
])('a setting out of range (%j) is a 400 naming it', async (settings, field) => {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'x', policy: 'openai', llm: settings });
  expect(response.status).toBe(400);
  expect(JSON.stringify(await response.json())).toContain(field);
});

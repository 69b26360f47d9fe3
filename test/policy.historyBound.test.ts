import { startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { usePlatform } from './platform';

// What a model is sent is bounded in tokens, not only in steps: a 200 KB file read in a sandbox, and the steps
// before it, go to the model within LLM_HISTORY_TOKENS (2,000 here: about 8,000 characters).
const HISTORY_TOKENS = 2_000;
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({ env: () => ({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'm', LLM_HISTORY_TOKENS: String(HISTORY_TOKENS) }) });

test('a huge observation is cut in the middle, and older steps are left out, to keep the request within its tokens', async () => {
  const threeKb = "yes a | tr -d '\\n' | head -c 3000";
  llm.reply(
    toolCall('shell', { command: threeKb }),
    toolCall('shell', { command: threeKb }),
    toolCall('shell', { command: "yes b | tr -d '\\n' | head -c 200000 > big.txt && printf end >> big.txt" }),
    toolCall('read_file', { path: 'big.txt', max_bytes: 1_048_576 }),
    toolCall('finish', { result: 'read' }),
  );
  const mission = await context.platform.run({ goal: 'read a big file', policy: 'openai' });
  expect(mission.status).toBe('succeeded');
  const last = llm.requests.at(-1)!;
  const chars = last.messages.reduce((sum, message) => sum + (message.content?.length ?? 0), 0);
  // The bound in characters, plus the system prompt, the goal and each call's arguments.
  expect(chars).toBeLessThan(HISTORY_TOKENS * 4 + 2_000);
  const read = last.messages.at(-1)!;
  expect(read.role).toBe('tool');
  expect(read.content).toMatch(/^b{100,}\n\[\.\.\. 200003 characters, the middle not shown \.\.\.\]\nb+end$/);
  expect(last.messages.some((message) => /^\(\d earlier steps are not shown\)$/.test(message.content ?? ''))).toBe(true);
  // The recorded step keeps the whole file: only what the model is sent is cut.
  const stored = await context.env.db('steps').where({ mission_id: mission.id, seq: 4 }).first('observation');
  expect(stored.observation.size).toBe(200_003);
}, 60_000);

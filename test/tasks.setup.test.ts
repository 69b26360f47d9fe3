import { startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { shell, usePlatform } from './platform';

// Setup: the task's own steps, run before the agent's, recorded as setup steps and never shown to the model.
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({ env: () => ({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'test-model' }) });

type Steps = { seq: number; tool: string; thought: string | null; setup?: boolean; observation: { stdout: string } | null }[];

test("setup steps run first, on the task's files, are recorded as setup, and do not count against max_steps", async () => {
  const mission = await context.platform.run({
    goal: 'use what setup made',
    max_steps: 1,
    environment: {
      files: [{ path: 'fixture.txt', content: 'fixture\n' }],
      setup: [shell('cp fixture.txt prepared.txt && echo prepared >> prepared.txt'), { tool: 'write_file', input: { path: 'more.txt', content: 'more' } }],
    },
    plan: [shell('cat prepared.txt more.txt')],
  });

  expect(mission).toMatchObject({ status: 'succeeded', step_count: 3 });
  const steps = mission.steps as unknown as Steps;
  expect(steps.map((step) => [step.seq, step.tool, step.setup ?? false, step.thought])).toEqual([
    [1, 'shell', true, 'setup step 1 of 2'],
    [2, 'write_file', true, 'setup step 2 of 2'],
    // The plan's own numbering: the agent's first step.
    [3, 'shell', false, 'step 1 of 1'],
  ]);
  expect(steps[2]!.observation!.stdout).toBe('fixture\nprepared\nmore');
});

test('a failing setup step ends the mission failed with ERR_SETUP, the step recorded, before the agent does anything', async () => {
  const mission = await context.platform.run({
    goal: 'never reached',
    environment: { setup: [shell('echo installing; echo "no such package" >&2; exit 3'), shell('echo second')] },
    plan: [shell('echo agent')],
  });

  expect(mission).toMatchObject({ status: 'failed', step_count: 1, error: { code: 'ERR_SETUP', step: 1, exit_code: 3 } });
  expect(mission.error!.message).toMatch(/setup step 1 failed: the step exited with code 3: no such package/);
  expect((mission.steps as unknown as Steps)[0]).toMatchObject({ setup: true, observation: { stdout: 'installing\n' } });
});

test("the model's history holds none of the setup steps", async () => {
  llm.requests.length = 0;
  llm.reply(toolCall('shell', { command: 'cat ready.txt' }), toolCall('finish', { result: 'done' }));
  const mission = await context.platform.run({
    goal: 'read what is ready',
    policy: 'openai',
    environment: { setup: [shell('echo secret-setup-output > ready.txt && echo secret-setup-output')] },
  });

  expect(mission).toMatchObject({ status: 'succeeded', step_count: 3 });
  const [first, second] = llm.requests;
  // The first call sees the goal only; the second its own step, whose output is the file setup wrote.
  expect(first!.messages.map((message) => message.role)).toEqual(['system', 'user']);
  expect(second!.messages.filter((message) => message.role === 'tool')).toHaveLength(1);
  expect(JSON.stringify(first)).not.toContain('echo secret-setup-output');
  expect(JSON.stringify(second)).not.toContain('echo secret-setup-output');
  expect(second!.messages.find((message) => message.role === 'tool')!.content).toContain('secret-setup-output');
});

import { startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { shell, usePlatform } from './platform';

// Custom tools: the model sees them beside the built-ins and calls them natively; a call runs the tool's command
// in the sandbox with the arguments as JSON on stdin. allowed_tools narrows the built-ins.
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({ env: () => ({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'test-model' }) });

const runTests = {
  name: 'run_tests',
  description: 'Run the test suite; give a pattern to run some of it.',
  parameters: { type: 'object', properties: { pattern: { type: 'string' } }, required: ['pattern'] },
  command: 'cat > /tmp/args.json && echo "tests matching $(python3 -c "import json; print(json.load(open(\'/tmp/args.json\'))[\'pattern\'])")" && cat /tmp/args.json',
};

type ToolMessage = { role: string; content?: string | null };
const requestTools = (index: number) => (llm.requests[index]!.tools ?? []).map((tool) => tool.function.name);

test('a model calls a custom tool natively; its arguments reach the command as JSON on stdin', async () => {
  llm.requests.length = 0;
  llm.reply(toolCall('run_tests', { pattern: 'test_parse "quoted"' }, 'Run the parser tests.'), toolCall('finish', { result: 'ok' }));
  const mission = await context.platform.run({ goal: 'Check the parser', policy: 'openai', tools: [runTests] });

  expect(mission).toMatchObject({ status: 'succeeded', step_count: 2 });
  expect(mission.steps[0]).toMatchObject({ tool: 'run_tests', exit_code: 0, observation: { stdout: 'tests matching test_parse "quoted"\n{"pattern":"test_parse \\"quoted\\""}' } });
  // Offered beside the built-ins, with its own description and parameters.
  expect(requestTools(0)).toEqual(['shell', 'python', 'read_file', 'write_file', 'finish', 'run_tests']);
  const offered = llm.requests[0]!.tools!.find((tool) => tool.function.name === 'run_tests') as unknown as { function: object };
  expect(offered.function).toEqual({ name: 'run_tests', description: runTests.description, parameters: runTests.parameters });
  // Its observation goes back as a shell step's does.
  const fed = (llm.requests[1]!.messages as ToolMessage[]).find((message) => message.role === 'tool')!;
  expect(fed.content).toMatch(/exit code: 0[^]*tests matching test_parse/);
});

test('allowed_tools withholds the other built-ins from the model, and a call of one is refused and fed back', async () => {
  llm.requests.length = 0;
  llm.reply(toolCall('shell', { command: 'cat /etc/passwd' }), toolCall('run_tests', { pattern: 'all' }), toolCall('finish', { result: 'passed' }));
  const mission = await context.platform.run({ goal: 'Only run the tests', policy: 'openai', tools: [runTests], allowed_tools: ['finish'] });

  expect(mission).toMatchObject({ status: 'succeeded', result: 'passed', step_count: 3 });
  expect(requestTools(0)).toEqual(['finish', 'run_tests']);
  expect(mission.steps.map((step) => step.tool)).toEqual(['invalid', 'run_tests', 'finish']);
  expect(mission.steps[0]!.error).toBe('unknown tool "shell": the tools are finish, run_tests');
  expect(mission.steps[1]!.observation!.stdout).toMatch(/^tests matching all\n/);
});

test('a scripted plan and setup call custom tools too; a failing one fails the step as shell does', async () => {
  const mission = await context.platform.run({
    goal: 'scripted',
    tools: [runTests, { name: 'fail_hard', description: 'exits 4', command: 'echo broken >&2; exit 4' }],
    environment: { setup: [{ tool: 'run_tests', input: { pattern: 'setup' } }] },
    plan: [{ tool: 'run_tests', input: { pattern: 'plan' } }, { tool: 'fail_hard', input: {} }],
  });

  expect(mission).toMatchObject({ status: 'failed', step_count: 3, error: { code: 'ERR_STEP_FAILED', step: 3, exit_code: 4 } });
  expect(mission.steps.map((step) => step.observation?.stdout.split('\n')[0])).toEqual(['tests matching setup', 'tests matching plan', '']);
  expect(mission.error!.message).toBe('the step exited with code 4: broken');
});

test.each([
  ['a name that clashes with a built-in', { tools: [{ ...runTests, name: 'shell' }], plan: [shell('true')] }, 'tools.0.name', /clashes with a built-in/],
  ['a name that is not a function name', { tools: [{ ...runTests, name: 'run tests' }], plan: [shell('true')] }, 'tools.0.name', /letters, digits/],
  ['two tools of one name', { tools: [runTests, runTests], plan: [shell('true')] }, 'tools', /two tools are named run_tests/],
  ['parameters that are no JSON Schema', { tools: [{ ...runTests, parameters: { type: 'object', properties: { pattern: { type: 'strin' } } } }], plan: [shell('true')] }, 'tools.0.parameters', /not a valid JSON Schema/],
  ['parameters that are no object', { tools: [{ ...runTests, parameters: { type: 'array' } }], plan: [shell('true')] }, 'tools.0.parameters.type', /"type": "object"/],
  ['a plan calling a tool it does not declare', { plan: [{ tool: 'run_tests', input: {} }] }, 'plan.0.tool', /unknown tool "run_tests"/],
  ['a plan calling a built-in it withholds', { allowed_tools: ['finish'], plan: [shell('true')] }, 'plan.0.tool', /unknown tool "shell": the tools are finish/],
  ['setup calling a tool it does not declare', { environment: { setup: [{ tool: 'make_it', input: {} }] }, plan: [shell('true')] }, 'environment.setup.0.tool', /unknown tool "make_it"/],
])('%s is a 400 naming the field', async (_what, fields, path, message) => {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'x', ...fields });
  expect(response.status).toBe(400);
  const { errors } = (await response.json()) as { errors: { path: string; message: string }[] };
  expect(errors).toContainEqual({ path, message: expect.stringMatching(message) });
});

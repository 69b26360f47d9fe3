import { startFakeLlm, textReply, toolCall, type FakeLlm } from './fakeLlm';
import { usePlatform } from './platform';
import { waitFor } from './waitFor';

let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
// The operator's endpoints: `default` is the local server, `nowhere` a port nothing listens on.
const context = usePlatform({
  env: () => ({
    LLM_BASE_URL: llm.baseUrl,
    LLM_MODELS: 'test-model,other-model',
    LLM_ENDPOINTS: JSON.stringify({ nowhere: { base_url: 'http://127.0.0.1:9/v1', models: ['any'] } }),
    LLM_RETRY_BUDGET_S: '2',
  }),
});

const run = (body: object) => context.platform.run(body);

test('the openai policy lets the model choose tools, shows it each observation, and ends on finish', async () => {
  llm.requests.length = 0;
  llm.reply(
    toolCall('write_file', { path: 'answer.txt', content: '42\n' }, 'I will write the answer down.'),
    toolCall('shell', { command: 'cat answer.txt' }),
    toolCall('finish', { result: { answer: 42 } }),
  );

  const mission = await run({ goal: 'Find the answer', policy: 'openai', llm: { model: 'test-model' } });

  expect(mission).toMatchObject({ status: 'succeeded', result: { answer: 42 }, step_count: 3 });
  expect(mission.steps.map((step) => step.tool)).toEqual(['write_file', 'shell', 'finish']);
  expect(llm.requests).toHaveLength(3);
  expect(llm.requests[0]!.model).toBe('test-model');
  expect(llm.requests[0]!.tools!.map((tool) => tool.function.name)).toEqual(['shell', 'python', 'read_file', 'write_file', 'finish']);
  expect(llm.requests[0]!.messages.map((message) => message.role)).toEqual(['system', 'user']);
  const last = llm.requests[2]!.messages.at(-1)!;
  expect(last).toMatchObject({ role: 'tool', tool_call_id: 'call_2' });
  expect(last.content).toContain('stdout:\n42\n');
});

test('malformed model output becomes an observation that tells the model what was wrong, not a crash', async () => {
  llm.requests.length = 0;
  llm.reply(toolCall('shell', '{"command": "echo hi"'), toolCall('teleport', { to: 'mars' }), toolCall('shell', { command: 'exit 3' }), textReply('giving up: done'));

  const mission = await run({ goal: 'Survive bad replies', policy: 'openai' });

  expect(mission).toMatchObject({ status: 'succeeded', result: 'giving up: done' });
  expect(mission.steps.map((step) => [step.tool, step.error])).toEqual([
    ['invalid', expect.stringMatching(/^the arguments of shell are not valid JSON/)],
    ['invalid', expect.stringContaining('unknown tool')],
    ['shell', 'the step exited with code 3'],
    ['finish', null],
  ]);
  expect(llm.requests[1]!.messages.at(-1)!.content).toContain('not a valid action: the arguments of shell are not valid JSON');
  expect(llm.requests[3]!.messages.at(-1)!.content).toContain('exit code: 3');
});

test('the text ReAct format works for models without tool calling', async () => {
  llm.reply(
    textReply('Thought: list the numbers\nAction: shell\nAction Input: {"command": "seq 3"}'),
    textReply('Thought: I have them\nFinal Answer: 1 2 3'),
  );

  const mission = await run({ goal: 'Count to three', policy: 'openai', llm: { format: 'text' } });

  expect(mission).toMatchObject({ status: 'succeeded', result: '1 2 3' });
  expect(mission.steps[0]!.observation!.stdout).toBe('1\n2\n3\n');
});

test('a recorded run replays offline to the same trace', async () => {
  llm.reply(toolCall('python', { code: 'print(6 * 7)' }, 'compute'), toolCall('finish', { result: 'forty-two' }));
  const recorded = await run({ goal: 'Compute', policy: 'openai', llm: { endpoint: 'default', record: true } });
  const calls = llm.requests.length;

  const replayed = await run({ goal: 'Compute', policy: 'replay', replay_of: recorded.id });

  expect(llm.requests).toHaveLength(calls); // the model was not asked again
  expect(replayed).toMatchObject({ status: 'succeeded', result: 'forty-two' });
  const trace = (mission: typeof recorded) => mission.steps.map((step) => [step.tool, step.observation?.stdout]);
  expect(trace(replayed)).toEqual(trace(recorded));
  expect(trace(replayed)).toEqual([
    ['python', '42\n'],
    ['finish', undefined],
  ]);
});

test('a model endpoint unreachable past the retry budget (2 s here) fails the mission as the model being unavailable', async () => {
  const mission = await run({ goal: 'Nobody home', policy: 'openai', llm: { endpoint: 'nowhere' } });

  expect(mission.status).toBe('failed');
  expect(mission.error).toMatchObject({ code: 'ERR_MODEL_UNAVAILABLE' });
  expect(mission.error!.message).toMatch(/^the policy failed: the model endpoint was unavailable for \d+ s of a retry budget of 2 s: the model endpoint could not be reached/);
}, 30_000);

test("what a model writes that Postgres cannot store (NUL, lone surrogates) is stored with U+FFFD in its place: thoughts, an approval's thought, the answer", async () => {
  const unstorable = (label: string) => `${label} \u0000 \ud800 \udc00 end`;
  const stored = (label: string) => `${label} \ufffd \ufffd \ufffd end`;
  llm.reply(toolCall('shell', { command: 'echo ran' }, unstorable('plain thought')), toolCall('python', { code: 'print(1)' }, unstorable('gated thought')));
  const created = await context.platform.request('POST', '/v1/missions', { goal: 'Write badly', policy: 'openai', require_approval: ['python'] });
  const { id } = (await created.json()) as { id: string };
  await waitFor(async () => !['queued', 'running'].includes(((await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as { status: string }).status));

  const waiting = (await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as { status: string; approval: { thought: string } };
  expect(waiting).toMatchObject({ status: 'waiting_approval', approval: { thought: stored('gated thought') } });
  llm.reply(textReply(unstorable('final answer')));
  expect((await context.platform.request('POST', `/v1/missions/${id}/approvals`, { decision: 'approve' })).status).toBe(200);

  const mission = await context.platform.waitForMission(id);
  expect(mission).toMatchObject({ status: 'succeeded', result: stored('final answer') });
  expect(mission.steps.map((step) => [step.tool, step.thought])).toEqual([
    ['shell', stored('plain thought')],
    // Run in a new sandbox after the approval, with the files restored: nothing to note.
    ['python', stored('gated thought')],
    ['finish', null],
  ]);
});

import { startFakeLlm, textReply, toolCall, withUsage, type FakeLlm } from './fakeLlm';
import { shell, usePlatform } from './platform';
import { waitFor } from './waitFor';

// A grader model scores a mission: it is sent the goal, the rubric, the result and the artifact named, answers in a
// fixed schema (a `grade` call), and what it used is counted as grading, apart from the agent's usage. The grader
// is the local chat-completions server.
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({
  env: () => ({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'grader', LLM_PRICES: JSON.stringify({ grader: { input: 1, output: 2 } }) }),
});

type Score = { value: number | null; passed: boolean | null; explanation: string | null; scorer: string; error?: string; usage?: object };
const RUBRIC = 'Full marks when the poem rhymes and mentions the sea.';
const scorer = { model: { model: 'grader' }, rubric: RUBRIC, artifact: 'poem.txt', pass_at: 0.7 };
const mission = (goal: string) => ({ goal, plan: [shell('printf "the sea is wide\\nand so is the tide\\n" > poem.txt; echo wrote it')], artifacts: ['poem.txt'], scorer });

async function scoredBatch(goal: string): Promise<{ batch: { grading_usage: object; usage: object }; score: Score }> {
  const response = await context.platform.request('POST', '/v1/missions/batch', { missions: [mission(goal)] });
  const { batch_id: batchId, items } = (await response.json()) as { batch_id: string; items: { id: string }[] };
  await waitFor(async () => ((await (await context.platform.request('GET', `/v1/batches/${batchId}`)).json()) as { status: string }).status === 'ended', 30_000, 'the batch ended');
  const batch = (await (await context.platform.request('GET', `/v1/batches/${batchId}`)).json()) as { grading_usage: object; usage: object };
  const { score } = (await (await context.platform.request('GET', `/v1/missions/${items[0]!.id}`)).json()) as { score: Score };
  return { batch, score };
}

test("the grader is sent the goal, rubric, result and artifact, answers a grade, and its tokens count as grading", async () => {
  llm.requests.length = 0;
  llm.reply(withUsage(toolCall('grade', { score: 0.8, explanation: 'it rhymes; the sea is there' }), 500, 40));

  const { batch, score } = await scoredBatch('write a poem about the sea');

  expect(llm.requests).toHaveLength(1);
  const [request] = llm.requests;
  expect(request!.model).toBe('grader');
  expect(request!.tools!.map((tool) => tool.function.name)).toEqual(['grade']);
  const shown = request!.messages.find((message) => message.role === 'user')!.content!;
  expect(shown).toContain('<task>\nwrite a poem about the sea\n</task>');
  expect(shown).toContain(`<rubric>\n${RUBRIC}\n</rubric>`);
  expect(shown).toContain('<result>\nwrote it\n</result>');
  expect(shown).toContain('<artifact path="poem.txt">\nthe sea is wide\nand so is the tide\n</artifact>');

  expect(score).toMatchObject({ value: 0.8, passed: true, explanation: 'it rhymes; the sea is there', scorer: 'model' });
  // A million tokens in cost 1, a million out 2.
  const cost = (500 * 1 + 40 * 2) / 1e6;
  expect(score.usage).toEqual({ endpoint: 'default', model: 'grader', input_tokens: 500, output_tokens: 40, cost_usd: cost });
  expect(batch.grading_usage).toEqual({ input_tokens: 500, output_tokens: 40, cost_usd: cost });
  expect(batch.usage).toEqual({ input_tokens: 0, output_tokens: 0, cost_usd: 0 });
});

test('a grader that answers outside the schema is an errored score, its tokens still counted', async () => {
  llm.reply(withUsage(textReply('It is a lovely poem, 9 out of 10.'), 300, 12));
  const { batch, score } = await scoredBatch('another poem');
  expect(score).toMatchObject({ value: null, passed: null, scorer: 'model', error: expect.stringMatching(/not the grade's JSON: It is a lovely poem/) });
  expect(batch.grading_usage).toMatchObject({ input_tokens: 300, output_tokens: 12 });
});

test('a grader score outside 0..1 is an error; a grade given as JSON text is read', async () => {
  llm.reply(toolCall('grade', { score: 7, explanation: 'very good' }), textReply('```json\n{"score": 0.5, "explanation": "half"}\n```'));
  expect((await scoredBatch('out of range')).score).toMatchObject({ value: null, error: expect.stringMatching(/not a number from 0 to 1: 7/) });
  expect((await scoredBatch('as text')).score).toMatchObject({ value: 0.5, passed: false, explanation: 'half' });
});

test('a grader the operator does not offer is refused at submission', async () => {
  const response = await context.platform.request('POST', '/v1/missions', { ...mission('refused'), scorer: { ...scorer, model: { model: 'gpt-unknown' } } });
  expect(response.status).toBe(400);
  expect(((await response.json()) as { errors: { path: string; message: string }[] }).errors[0]).toEqual({ path: 'scorer.model.model', message: 'endpoint "default" offers grader' });
});

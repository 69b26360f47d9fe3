import { failure, startFakeLlm, textReply, type FakeLlm } from './fakeLlm';
import { usePlatform } from './platform';
import { waitFor } from './waitFor';

// Epochs: each item of a batch runs k times, as k missions with its custom_id and epoch 1..k. The agent is a model
// (the local chat-completions server) whose answers the test scripts per item, so which runs pass is known.
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({ env: () => ({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'test-model', LLM_RETRY_BUDGET_S: '1' }) });

/** The model answers the n-th mission of each goal (0, 1, ...) with what `script[goal][n]` says, else 'right'. */
function scriptModel(script: Record<string, ('right' | 'wrong' | 'broken')[]>): void {
  const seen = new Map<string, number>();
  llm.answerWith((request) => {
    const goal = request.messages.find((message) => message.role === 'user')!.content!.replace(/^Mission: /, '');
    const n = seen.get(goal) ?? 0;
    seen.set(goal, n + 1);
    const answer = script[goal]?.[n] ?? 'right';
    return answer === 'broken' ? failure(400, {}, 'the model refused') : textReply(answer);
  });
}

interface Submitted {
  batch_id: string;
  items: { index: number; custom_id?: string; id?: string; ids?: string[]; error?: { status: number; detail: string } }[];
}
interface ResultLine {
  custom_id: string;
  mission_id: string;
  item: number;
  epoch: number;
  attempt: number;
  status: string;
  score: { value: number; passed: boolean } | null;
}

const submit = async (body: object) => context.platform.request('POST', '/v1/missions/batch', body);
const batch = async (id: string) => (await (await context.platform.request('GET', `/v1/batches/${id}`)).json()) as Record<string, unknown> & { status: string };
const ended = (id: string) => waitFor(async () => (await batch(id)).status === 'ended', 60_000, `batch ${id} ended`);
async function results(id: string): Promise<ResultLine[]> {
  const text = await (await context.platform.request('GET', `/v1/batches/${id}/results`)).text();
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as ResultLine);
}
const model = (goal: string, custom_id: string) => ({ goal, custom_id, policy: 'openai', llm: { model: 'test-model' } });

test('each item runs once per epoch under its custom_id; results go by item then epoch; statistics fold the epochs', async () => {
  scriptModel({ 'flaky answer': ['right', 'wrong', 'right', 'wrong'] });
  const response = await submit({ epochs: 4, scorer: { expected: 'right' }, missions: [model('steady answer', 'steady'), model('flaky answer', 'flaky')] });
  expect(response.status).toBe(202);
  const submitted = (await response.json()) as Submitted;
  expect(submitted.items.map((item) => item.ids?.length)).toEqual([4, 4]);
  expect(submitted.items.map((item) => item.id)).toEqual(submitted.items.map((item) => item.ids![0]));
  await ended(submitted.batch_id);

  const lines = await results(submitted.batch_id);
  expect(lines.map((line) => [line.custom_id, line.epoch])).toEqual([1, 2, 3, 4].map((epoch) => ['steady', epoch]).concat([1, 2, 3, 4].map((epoch) => ['flaky', epoch])));
  expect(lines.map((line) => line.mission_id)).toEqual(submitted.items.flatMap((item) => item.ids));
  expect(lines.filter((line) => line.custom_id === 'flaky').map((line) => line.score!.value).sort()).toEqual([0, 0, 1, 1]);

  // steady: 4 of 4, flaky: 2 of 4. Item means 1 and 0.5; the standard error from their spread, sqrt(0.125 / 2).
  const summary = await batch(submitted.batch_id);
  expect(summary).toMatchObject({ epochs: 4, items: 2, attempts: 8, counts: { succeeded: 8 } });
  const scores = summary.scores as { mean: number; stderr: number; pass_rate: number; pass_at_k: Record<string, number> };
  expect(scores.mean).toBeCloseTo(0.75, 12);
  expect(scores.stderr).toBeCloseTo(0.25, 12);
  expect(scores.pass_rate).toBe(0.5);
  // pass@1 averages 1 and 2/4; pass@4 of flaky is 1 − C(2,4)/C(4,4) = 1: some run of four passed.
  expect(scores.pass_at_k).toEqual({ '1': 0.75, '4': 1 });
});

test('a retry of a batch with epochs retries the epochs that failed, each as its own next attempt', async () => {
  scriptModel({ 'sometimes broken': ['broken', 'right', 'broken'] });
  const response = await submit({ epochs: 3, missions: [model('sometimes broken', 'shaky'), model('never broken', 'sound')] });
  const submitted = (await response.json()) as Submitted;
  await ended(submitted.batch_id);
  const before = await results(submitted.batch_id);
  const failed = before.filter((line) => line.status === 'failed');
  expect(failed.map((line) => line.custom_id)).toEqual(['shaky', 'shaky']);

  const retried = (await (await context.platform.request('POST', `/v1/batches/${submitted.batch_id}/retry`, {})).json()) as { retried: number; items: { epoch: number; attempt: number; retry_of: string }[] };
  expect(retried.retried).toBe(2);
  expect(retried.items.map((item) => [item.epoch, item.attempt, item.retry_of])).toEqual(failed.map((line) => [line.epoch, 2, line.mission_id]));
  await ended(submitted.batch_id);

  const after = await results(submitted.batch_id);
  expect(after.map((line) => [line.custom_id, line.epoch, line.status])).toEqual([1, 2, 3].map((epoch) => ['shaky', epoch, 'succeeded']).concat([1, 2, 3].map((epoch) => ['sound', epoch, 'succeeded'])));
  expect(after.map((line) => line.attempt)).toEqual(before.map((line) => (line.status === 'failed' ? 2 : 1)));
});

test('epochs are bounded: 1 to 100, and items times epochs within the largest batch', async () => {
  const mission = { goal: 'bounded', plan: [] };
  for (const epochs of [0, 101, 2.5]) {
    const refused = await submit({ epochs, missions: [mission] });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { errors: { path: string }[] }).errors[0]!.path).toBe('epochs');
  }
  const maxBatch = context.env.config.BATCH_MAX;
  const tooMany = await submit({ epochs: 100, missions: Array.from({ length: Math.floor(maxBatch / 100) + 1 }, () => mission) });
  expect(tooMany.status).toBe(413);
  expect(((await tooMany.json()) as { detail: string }).detail).toMatch(new RegExp(`at most ${maxBatch} missions; this one has ${Math.floor(maxBatch / 100) + 1} items of 100 epochs`));
});

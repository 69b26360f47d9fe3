import { tarOf } from './archives';
import { shell, usePlatform } from './platform';
import { waitFor } from './waitFor';

// Scorers run after the agent, never seen by it: a command in the sandbox as the agent left it (with hidden files
// unpacked only then), or the result against an expected answer. The mission's status stays the agent's.
const context = usePlatform();

type Scored = { id: string; status: string; score: { value: number | null; passed: boolean | null; explanation: string | null; scorer: string; error?: string; metadata?: object } | null };
const run = async (body: object) => {
  const mission = await context.platform.run(body);
  return { ...mission, ...((await (await context.platform.request('GET', `/v1/missions/${mission.id}`)).json()) as Scored) };
};

test('a command scorer sees the files the agent left and the hidden ones the agent could not, and reads a JSON score line', async () => {
  const check = 'grep -q 42 answer.txt && echo \'{"score": 0.75, "explanation": "right answer, late", "metadata": {"checked": "answer.txt"}}\'';
  const upload = await context.platform.request('POST', '/v1/files', await tarOf([{ name: 'check.sh', content: `${check}\n` }]), { 'content-type': 'application/octet-stream' });
  const { file_id: hidden } = (await upload.json()) as { file_id: string };

  const mission = await run({
    goal: 'answer',
    plan: [shell('ls hidden 2>&1 || true; echo 42 > answer.txt')],
    scorer: { command: 'sh hidden/check.sh', files: [{ file_id: hidden, path: 'hidden' }], pass_at: 0.5 },
  });

  expect(mission.status).toBe('succeeded');
  expect(mission.steps[0]!.observation!.stdout).toMatch(/No such file or directory/);
  expect(mission.score).toMatchObject({ value: 0.75, passed: true, explanation: 'right answer, late', scorer: 'command', metadata: { checked: 'answer.txt' } });
});

test.each([
  ['exit 0 scores 1', 'exit 0', { value: 1, passed: true }],
  ['a non-zero exit scores 0, its output the explanation', 'echo 2 tests failed; exit 3', { value: 0, passed: false, explanation: '2 tests failed' }],
  ['a score outside 0..1 is an error', 'echo \'{"score": 7}\'', { value: null, passed: null, error: expect.stringMatching(/not a number from 0 to 1: 7/) }],
  ['a timeout is an error, not a failure', 'sleep 30', { value: null, passed: null, error: expect.stringMatching(/timed out/) }],
])('%s', async (_what, command, score) => {
  const mission = await run({ goal: 'scored', plan: [shell('true')], scorer: { command, timeout_s: 1 } });
  expect(mission.status).toBe('succeeded');
  expect(mission.score).toMatchObject(score);
});

test('a failed mission is scored too, and its status stays failed', async () => {
  const mission = await run({ goal: 'fails', plan: [shell('echo half > work.txt; exit 1')], scorer: { command: 'test -s work.txt' } });
  expect(mission).toMatchObject({ status: 'failed', score: { value: 1, passed: true } });
});

test('a cancelled mission is not scored', async () => {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'cancelled', plan: [shell('sleep 60')], scorer: { command: 'exit 0' } });
  const { id } = (await response.json()) as { id: string };
  await waitFor(async () => (await context.env.db('missions').where({ id, step_claimed: 1 }).first()) !== undefined, 20_000, 'the step started');
  await context.platform.request('POST', `/v1/missions/${id}/cancel`);
  const mission = await context.platform.waitForMission(id);
  expect(mission.status).toBe('cancelled');
  expect(((await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as Scored).score).toBeNull();
});

test.each([
  ['exact', 'forty-two', 'forty-two\n', 1],
  ['exact', 'forty-two', 'forty-three', 0],
  ['includes', 'two', 'it is forty-two', 1],
  ['regex', '^forty-(two|three)$', 'forty-three', 1],
  ['regex', '^\\d+$', 'forty', 0],
])('an expected answer (%s %j) against %j scores %d', async (match, expected, result, value) => {
  const mission = await run({ goal: 'answer', plan: [{ tool: 'finish', input: { result } }], scorer: { expected, match } });
  expect(mission.score).toMatchObject({ value, passed: value === 1, scorer: 'expected' });
});

test("a regular expression that backtracks for ever is an error after a second; the worker goes on", async () => {
  const mission = await run({ goal: 'hostile', plan: [{ tool: 'finish', input: { result: `${'a'.repeat(40)}!` } }], scorer: { expected: '^(a+)+$', match: 'regex' } });
  expect(mission.score).toMatchObject({ value: null, error: expect.stringMatching(/took more than 1000 ms/) });
  const next = await run({ goal: 'after', plan: [{ tool: 'finish', input: { result: 'ok' } }], scorer: { expected: 'ok' } });
  expect(next.score).toMatchObject({ value: 1 });
});

test('a scorer that is not valid is a 400; the batch folds its scores, and the results line carries each', async () => {
  const bad = await context.platform.request('POST', '/v1/missions', { goal: 'x', plan: [shell('true')], scorer: { expected: '(', match: 'regex' } });
  expect(bad.status).toBe(400);
  const unknownFile = await context.platform.request('POST', '/v1/missions', { goal: 'x', plan: [shell('true')], scorer: { command: 'true', files: [{ file_id: '01a20000-0000-7000-8000-00000000beef' }] } });
  expect(unknownFile.status).toBe(404);

  const response = await context.platform.request('POST', '/v1/missions/batch', {
    missions: [
      { goal: 'one', custom_id: 'one', plan: [shell('true')], scorer: { command: 'exit 0' } },
      { goal: 'two', custom_id: 'two', plan: [shell('true')], scorer: { command: 'exit 1' } },
      { goal: 'three', custom_id: 'three', plan: [shell('true')], scorer: { command: 'sleep 5', timeout_s: 1 } },
    ],
  });
  const { batch_id: batchId, items } = (await response.json()) as { batch_id: string; items: { id: string }[] };
  for (const item of items) await context.platform.waitForMission(item.id);
  const batch = (await (await context.platform.request('GET', `/v1/batches/${batchId}`)).json()) as { scores: { ci95: number[] } };
  // Two items scored, 1 and 0: mean 0.5, standard error sqrt(0.5 / 2) = 0.5; the third errored.
  expect(batch.scores).toMatchObject({ items: 3, scored: 2, errored: 1, mean: 0.5, stderr: 0.5, pass_rate: 0.5, pass_at_k: { '1': 0.5 } });
  expect(batch.scores.ci95[0]).toBeCloseTo(0.5 - 1.959964 * 0.5, 6);
  const line = JSON.parse((await (await context.platform.request('GET', `/v1/batches/${batchId}/results`)).text()).split('\n')[0]!) as { score: object };
  expect(line.score).toMatchObject({ value: 1, passed: true, scorer: 'command' });
});

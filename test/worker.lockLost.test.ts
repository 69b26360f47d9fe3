import { renderMetrics } from '../lib/metrics';
import { createRedis } from '../lib/redis';
import { startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { capturedLogger } from './harness';
import { shell, usePlatform } from './platform';
import { waitFor } from './waitFor';

// A worker starved past its job lock, or whose job another worker took: the lock cannot be renewed. Here the
// lock is taken for real, by writing another token into it, while the mission runs.
const LOCK_MS = 2_000;
const captured = capturedLogger();
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({
  logger: captured.logger,
  env: () => ({ WORKER_LOCK_MS: String(LOCK_MS), WORKER_STALLED_CHECK_MS: '1000', LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'm' }),
});

/** Writes another token into the mission's job lock, for as long as a lock lasts: the worker's next renewal fails. */
async function takeLock(id: string): Promise<void> {
  const redis = createRedis(context.env.config, 'worker');
  await redis.set(`${context.env.config.QUEUE_PREFIX}:missions:${id}:lock`, 'another-workers-token', 'PX', LOCK_MS);
  redis.disconnect();
}

const stepsOf = async (id: string) => Number((await context.env.db('steps').where({ mission_id: id }).count({ n: '*' }))[0]!.n);

test('a run whose job lock is lost stops at once; the mission is resumed once, each step recorded once', async () => {
  const { platform } = context;
  const plan = Array.from({ length: 6 }, (_, i) => shell(`sleep 0.5; echo step ${i + 1}`));
  const created = await platform.request('POST', '/v1/missions', { goal: 'keeps its lock or stops', plan });
  const { id } = (await created.json()) as { id: string };
  await waitFor(async () => (await stepsOf(id)) >= 2, 30_000, 'two steps');
  await takeLock(id);
  // Renewals come every quarter of the lock: the run stops within one lock, plus a margin for a loaded machine.
  await waitFor(() => captured.lines.some((line) => line.includes('lost the job lock')), LOCK_MS + 5_000, 'the run stops');

  const mission = await platform.waitForMission(id, 60_000);
  expect(mission.status).toBe('succeeded');
  expect(mission.steps.map((step) => step.observation?.stdout)).toEqual(Array.from({ length: 6 }, (_, i) => `step ${i + 1}\n`));
  const metrics = await renderMetrics(platform.worker!.metrics);
  expect(metrics).toMatch(/^mission_job_locks_lost_total 1$/m);
}, 120_000);

test("a model told, before its next choice, that the mission goes on in a new sandbox without its earlier files", async () => {
  llm.requests.length = 0;
  let calls = 0;
  // Step 3 runs long enough for the lock to be lost while it runs: its sandbox is killed with it, unsaved.
  llm.answerWith(() => (++calls < 6 ? toolCall('shell', { command: `sleep ${calls === 3 ? 5 : 0.2}; echo ${calls} >> notes.txt` }) : toolCall('finish', { result: 'done' })));
  const created = await context.platform.request('POST', '/v1/missions', { goal: 'write notes', policy: 'openai' });
  const { id } = (await created.json()) as { id: string };
  await waitFor(async () => (await context.env.db('missions').where({ id }).first('step_claimed')).step_claimed === 3, 30_000, 'step 3 running');
  await takeLock(id);

  const mission = await context.platform.waitForMission(id, 60_000);
  expect(mission.status).toBe('succeeded');
  const told = llm.requests.filter((request) => request.messages.at(-1)?.content?.startsWith('This mission continues in a new sandbox'));
  expect(told).toHaveLength(1);
  expect(told[0]!.messages.at(-1)).toMatchObject({ role: 'user', content: expect.stringMatching(/files written by steps 1-\d are gone/) });
}, 120_000);

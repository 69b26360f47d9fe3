import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeLlm, textReply, type FakeLlm } from './fakeLlm';
import { capturedLogger } from './harness';
import { usePlatform } from './platform';
import { waitFor } from './waitFor';

// WORKER_CONCURRENCY=auto against missions that only wait for their model (0.9 s a call): the CPU stays idle
// while every slot is taken, so the worker takes more missions at once, look after look.
const MISSIONS = 200;
const MODEL_MS = 900;
const captured = capturedLogger();
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({ logger: captured.logger, env: () => ({ WORKER_CONCURRENCY: 'auto', LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'm' }) });

test('missions waiting for a model are taken on by more at a time while the host idles', async () => {
  llm.answerWith(async () => {
    await sleep(MODEL_MS);
    return textReply('done');
  });
  const missions = Array.from({ length: MISSIONS }, (_, i) => ({ goal: `waits ${i}`, policy: 'openai' }));
  expect((await context.platform.request('POST', '/v1/missions/batch', { missions })).status).toBe(202);
  const count = async (status: string) => Number((await context.env.db('missions').where({ status }).count({ n: '*' }))[0]!.n);
  // From 4, by half at each look (every 2 s) while the host idles, taking effect as missions end: past 20 in
  // five looks and as many model calls; 30 s more for a loaded host.
  await waitFor(async () => (await count('running')) > 20, 5 * (2_000 + MODEL_MS) + 30_000, 'more than 20 missions in flight');
  expect(captured.lines.filter((line) => line.includes('missions in flight resized')).length).toBeGreaterThanOrEqual(4);
  await waitFor(async () => (await count('succeeded')) === MISSIONS, 120_000, 'every mission done');
}, 240_000);

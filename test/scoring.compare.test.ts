import { runMissions } from './cliRun';
import { startFakeLlm, textReply, type FakeLlm } from './fakeLlm';
import { usePlatform } from './platform';
import { waitFor } from './waitFor';

// Comparisons that know noise. Runs of one suite are drawn from per-item pass probabilities (a seeded generator,
// so each run of this test draws the same): two runs of the same probabilities differ item by item at random,
// which `--fail-on any` reports as breakage and the paired t-test does not; a run whose probabilities dropped
// is significant. The agent is the local chat-completions server answering as the draws say.
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({ env: () => ({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'test-model', WORKER_CONCURRENCY: '16' }) });
const missions = (args: string[]) => runMissions(args, { MISSIONS_URL: `http://127.0.0.1:${context.platform.api.port}`, MISSIONS_API_KEY: context.env.config.ADMIN_API_KEY });

const ITEMS = 20;
const EPOCHS = 5;
/** Item i passes with probability 0.15 to 0.85; in the worse run, 0.35 less. */
const probability = (item: number) => 0.15 + (0.7 * item) / (ITEMS - 1);

/** A small seeded generator (xorshift32), uniform on [0, 1). */
function seeded(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/** Each goal's answers, in the order its missions call: 'right' with the item's probability (less `drop`). */
const draws = new Map<string, string[]>();
/** Each run's items' means as drawn, by custom_id. */
const drawnMeans = new Map<string, Map<string, number>>();
function drawRun(name: string, seed: number, drop: number): object[] {
  const random = seeded(seed);
  drawnMeans.set(name, new Map());
  return Array.from({ length: ITEMS }, (_, item) => {
    const goal = `${name}: item ${item}`;
    const answers = Array.from({ length: EPOCHS }, () => (random() < Math.max(0, probability(item) - drop) ? 'right' : 'wrong'));
    draws.set(goal, answers);
    drawnMeans.get(name)!.set(`item-${item}`, answers.filter((answer) => answer === 'right').length / EPOCHS);
    return { goal, custom_id: `item-${item}`, policy: 'openai', llm: { model: 'test-model' } };
  });
}

beforeAll(() =>
  llm.answerWith((request) => {
    const goal = request.messages.find((message) => message.role === 'user')!.content!.replace(/^Mission: /, '');
    return textReply(draws.get(goal)!.shift()!);
  }),
);

async function run(name: string, seed: number, drop: number): Promise<string> {
  const response = await context.platform.request('POST', '/v1/missions/batch', { epochs: EPOCHS, scorer: { expected: 'right' }, missions: drawRun(name, seed, drop) });
  expect(response.status).toBe(202);
  const { batch_id: id } = (await response.json()) as { batch_id: string };
  await waitFor(async () => ((await (await context.platform.request('GET', `/v1/batches/${id}`)).json()) as { status: string }).status === 'ended', 120_000, `run ${name} ended`);
  return id;
}

interface Compared {
  counts: Record<string, number>;
  difference: { items: number; mean: number; stderr: number; ci95: [number, number]; p_value: number; significant: boolean };
  items: { custom_id: string; here: { score: number; epochs: number }; there: { score: number } }[];
}
const compare = async (here: string, there: string) => (await (await context.platform.request('GET', `/v1/batches/${here}/compare?with=${there}`)).json()) as Compared;

/** Student's t two-sided p-value by integrating its density numerically: a computation apart from the platform's. */
function integratedP(t: number, df: number): number {
  const density = (x: number) => (1 + (x * x) / df) ** (-(df + 1) / 2);
  const simpson = (from: number, to: number, steps = 20_000) => {
    const h = (to - from) / steps;
    let sum = density(from) + density(to);
    for (let i = 1; i < steps; i++) sum += density(from + i * h) * (i % 2 ? 4 : 2);
    return (sum * h) / 3;
  };
  return simpson(Math.abs(t), 400) / simpson(0, 400);
}

let baseline: string;
let again: string;
let worse: string;
beforeAll(async () => {
  [baseline, again, worse] = [await run('baseline', 7, 0), await run('again', 8, 0), await run('worse', 9, 0.35)];
}, 300_000);

test('two runs of the same probabilities: items break and get fixed at random, the difference is not significant', async () => {
  const compared = await compare(again, baseline);
  expect(compared.counts.broken! + compared.counts.fixed!).toBeGreaterThan(0);
  expect(compared.difference.items).toBe(ITEMS);
  expect(compared.difference.significant).toBe(false);
  expect(compared.difference.ci95[0]).toBeLessThan(0);
  expect(compared.difference.ci95[1]).toBeGreaterThan(0);

  // The paired statistic from the items' means as drawn, computed here apart from the platform.
  const items = [...drawnMeans.get('again')!.keys()];
  const differences = items.map((item) => drawnMeans.get('again')!.get(item)! - drawnMeans.get('baseline')!.get(item)!);
  for (const item of compared.items) expect([item.here.epochs, item.here.score, item.there.score]).toEqual([EPOCHS, drawnMeans.get('again')!.get(item.custom_id), drawnMeans.get('baseline')!.get(item.custom_id)]);
  const mean = differences.reduce((sum, value) => sum + value, 0) / ITEMS;
  const stderr = Math.sqrt(differences.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (ITEMS - 1) / ITEMS);
  expect(compared.difference.mean).toBeCloseTo(mean, 12);
  expect(compared.difference.stderr).toBeCloseTo(stderr, 12);
  expect(compared.difference.p_value).toBeCloseTo(integratedP(mean / stderr, ITEMS - 1), 6);

  const anyChange = await missions(['batch', 'diff', again, baseline]);
  expect(anyChange.code).toBe(compared.counts.broken! > 0 ? 1 : 0);
  const beyondNoise = await missions(['batch', 'diff', again, baseline, '--fail-on', 'significant']);
  expect(beyondNoise.code).toBe(0);
  expect(beyondNoise.stdout).toMatch(/not significant at 0\.05/);
});

test('a run whose probabilities dropped is significant, and batch diff --fail-on significant fails on it', async () => {
  const compared = await compare(worse, baseline);
  expect(compared.difference.mean).toBeLessThan(0);
  expect(compared.difference.significant).toBe(true);
  expect(compared.difference.p_value).toBeLessThan(0.05);
  expect(compared.difference.ci95[1]).toBeLessThan(0);

  const gate = await missions(['batch', 'diff', worse, baseline, '--fail-on', 'significant']);
  expect(gate.code).toBe(1);
  expect(gate.stdout).toMatch(/over 20 items: -0\.\d{3} \(95% CI -0\.\d{3} to -0\.\d{3}, p = [\d.e-]+\), significant at 0\.05/);
  // A stricter alpha than the p-value lets it pass.
  const strict = await missions(['batch', 'diff', worse, baseline, '--fail-on', 'significant', '--alpha', String(compared.difference.p_value / 2)]);
  expect(strict.code).toBe(0);
  expect((await missions(['batch', 'diff', worse, baseline, '--alpha', '2'])).code).toBe(2);
});

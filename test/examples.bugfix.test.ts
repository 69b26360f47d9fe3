import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMissions } from './cliRun';
import { startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { usePlatform } from './platform';

// The example suite as the README runs it: generated, submitted with the CLI, its patches downloaded. Two of its
// twenty items here (one the script fixes, one it does not), and one item for a model (the local server).
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({ env: () => ({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'test-model' }) });
const dir = mkdtempSync(join(tmpdir(), 'mc-bugfix-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const missions = (args: string[]) => runMissions(args, { MISSIONS_URL: `http://127.0.0.1:${context.platform.api.port}`, MISSIONS_API_KEY: context.env.config.ADMIN_API_KEY });

beforeAll(() => {
  execFileSync(process.execPath, [require.resolve('tsx/cli'), join(__dirname, '..', 'examples', 'bugfix', 'generate.ts'), dir]);
});

test('scripted: the item whose bug the plan fixes passes with its patch kept and its hidden tests; the other fails both', async () => {
  const suite = join(dir, 'two.jsonl');
  writeFileSync(suite, readFileSync(join(dir, 'suite.jsonl'), 'utf8').split('\n').slice(0, 2).join('\n'));

  const run = await missions(['submit', suite, '--wait', '--json']);

  const results = JSON.parse(run.stdout) as { id: string; status: string; error: { code: string } | null; score: { value: number; explanation: string } }[];
  expect(results.map((result) => [result.status, result.error?.code ?? null, result.score.value])).toEqual([
    ['succeeded', null, 1],
    ['failed', 'ERR_STEP_FAILED', 0],
  ]);
  expect(results[1]!.score.explanation).toMatch(/FAILED hidden_tests\/test_hidden.py::test_short_list/);
  // The agent's own run of the tests collected its repository's test only: the hidden ones were not there yet.
  const fixed = await context.platform.waitForMission(results[0]!.id);
  expect(fixed.steps.at(-1)!.observation!.stdout).toMatch(/^1 passed/m);
  const out = join(dir, 'patches');
  expect((await missions(['artifacts', results[0]!.id, '-o', out])).code).toBe(0);
  expect(readFileSync(join(out, 'out', 'patch.diff'), 'utf8')).toMatch(/^-    return x \+ 2 - 1\n\+    return x \+ 2$/m);
});

test('a model fixes an item with read_file, write_file and run_tests, and its patch is kept', async () => {
  const item = JSON.parse(readFileSync(join(dir, 'suite-model.jsonl'), 'utf8').split('\n')[0]!) as Record<string, unknown> & { files_dir: string };
  const suite = join(dir, 'model.jsonl');
  writeFileSync(suite, JSON.stringify(item));
  llm.requests.length = 0;
  llm.reply(
    toolCall('read_file', { path: 'calc.py' }),
    toolCall('write_file', { path: 'calc.py', content: 'def add_k(x):\n    return x + 2\n' }),
    toolCall('run_tests', {}),
    toolCall('finish', { result: 'fixed add_k' }),
  );

  const run = await missions(['submit', suite, '--wait', '--json']);

  expect(run.code).toBe(0);
  const [result] = JSON.parse(run.stdout) as { id: string; status: string }[];
  expect(result!.status).toBe('succeeded');
  expect(llm.requests[0]!.tools!.map((tool) => tool.function.name)).toEqual(['read_file', 'write_file', 'finish', 'run_tests']);
  const mission = await context.platform.waitForMission(result!.id);
  expect(mission.steps.map((step) => step.tool)).toEqual(['shell', 'read_file', 'write_file', 'run_tests', 'finish']);
  expect(mission.steps[3]!.observation!.stdout).toMatch(/1 passed/);
  const { data } = (await (await context.platform.request('GET', `/v1/missions/${result!.id}/artifacts`)).json()) as { data: { path: string; bytes: number }[] };
  expect(data).toEqual([expect.objectContaining({ path: 'out/patch.diff' })]);
  expect(data[0]!.bytes).toBeGreaterThan(0);
});

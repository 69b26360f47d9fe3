import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMissions } from './cliRun';
import { shell, usePlatform } from './platform';

// The CLI carries tasks: directories packed and uploaded once (--files for every mission, files_dir per item),
// and artifacts written back under a directory, one folder per item.
const context = usePlatform();
const dir = mkdtempSync(join(tmpdir(), 'mc-cli-tasks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const missions = (args: string[]) => runMissions(args, { MISSIONS_URL: `http://127.0.0.1:${context.platform.api.port}`, MISSIONS_API_KEY: context.env.config.ADMIN_API_KEY });

function tree(root: string, files: Record<string, string>): string {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  return root;
}

test('submit --files and files_dir upload each directory once; batch results --artifacts writes each item its folder', async () => {
  tree(join(dir, 'shared'), { 'lib/common.sh': 'echo common\n' });
  chmodSync(join(dir, 'shared', 'lib', 'common.sh'), 0o755);
  tree(join(dir, 'suite', 'items', 'a'), { 'task.txt': 'task a\n' });
  tree(join(dir, 'suite', 'items', 'b'), { 'task.txt': 'task b\n' });
  const step = shell('mkdir -p out && { ./lib/common.sh; cat task.txt; } > out/answer.txt && cat out/answer.txt');
  const suite = join(dir, 'suite', 'suite.jsonl');
  writeFileSync(suite, [
    JSON.stringify({ goal: 'a', custom_id: 'a', files_dir: 'items/a', artifacts: ['out/*'], plan: [step] }),
    JSON.stringify({ goal: 'b', custom_id: 'b', files_dir: 'items/b', artifacts: ['out/*'], plan: [step] }),
  ].join('\n'));
  const filesBefore = Number((await context.env.db('files').count({ n: '*' }))[0]!.n);

  const submitted = await missions(['submit', suite, '--files', join(dir, 'shared'), '--wait', '--json']);

  expect(submitted.stderr).not.toMatch(/error/i);
  expect(submitted.code).toBe(0);
  const results = JSON.parse(submitted.stdout) as { id: string; status: string; batch_id: string }[];
  expect(results.map((result) => result.status)).toEqual(['succeeded', 'succeeded']);
  // Three directories, three files: the shared one once for both missions.
  expect(Number((await context.env.db('files').count({ n: '*' }))[0]!.n) - filesBefore).toBe(3);
  const mission = (await (await context.platform.request('GET', `/v1/missions/${results[0]!.id}`)).json()) as { batch_id: string; steps: { observation: { stdout: string } }[] };
  expect(mission.steps[0]!.observation.stdout).toBe('common\ntask a\n');

  const output = join(dir, 'results.jsonl');
  const artifacts = join(dir, 'artifacts');
  const fetched = await missions(['batch', 'results', mission.batch_id, '-o', output, '--artifacts', artifacts]);
  expect(fetched.code).toBe(0);
  expect(fetched.stderr).toContain('wrote 2 artifacts of 2 missions');
  expect(readFileSync(join(artifacts, 'a', 'out', 'answer.txt'), 'utf8')).toBe('common\ntask a\n');
  expect(readFileSync(join(artifacts, 'b', 'out', 'answer.txt'), 'utf8')).toBe('common\ntask b\n');
  expect(readFileSync(output, 'utf8').trim().split('\n')).toHaveLength(2);

  // The same suite with the same files is the same submission; changed files make a new one.
  const again = await missions(['submit', suite, '--files', join(dir, 'shared'), '--json']);
  const idsOf = (run: { stdout: string }) => (JSON.parse(run.stdout) as { missions: { id: string }[] }).missions.map((item) => item.id);
  expect(idsOf(again)).toEqual(results.map((result) => result.id));
  writeFileSync(join(dir, 'suite', 'items', 'a', 'task.txt'), 'task a, changed\n');
  const changed = await missions(['submit', suite, '--files', join(dir, 'shared'), '--json']);
  expect(idsOf(changed)[0]).not.toBe(results[0]!.id);
});

test('missions artifacts ID -o DIR writes one mission its files, byte-exact', async () => {
  const mission = await context.platform.run({ goal: 'bytes', artifacts: ['**/*.bin'], plan: [shell('mkdir -p x/y && head -c 5000 /dev/urandom > x/y/r.bin && sha256sum x/y/r.bin | cut -c1-64')] });
  const target = join(dir, 'one');

  const run = await missions(['artifacts', mission.id, '-o', target]);

  expect(run).toMatchObject({ code: 0, stdout: `wrote 1 artifacts to ${target}\n` });
  const written = readFileSync(join(target, 'x', 'y', 'r.bin'));
  expect(written).toHaveLength(5_000);
  expect(createHash('sha256').update(written).digest('hex')).toBe(mission.steps[0]!.observation!.stdout.trim());
  expect(statSync(join(target, 'x', 'y', 'r.bin')).isFile()).toBe(true);
});

test('a files_dir that is not a directory is exit 2 before anything is submitted', async () => {
  const suite = join(dir, 'bad.jsonl');
  writeFileSync(suite, JSON.stringify({ goal: 'x', files_dir: 'nowhere', plan: [shell('true')] }));
  const run = await missions(['submit', suite]);
  expect(run.code).toBe(2);
  expect(run.stderr).toMatch(/cannot read .*nowhere/);
});

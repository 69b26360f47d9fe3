import { createHash } from 'node:crypto';
import { shell, usePlatform } from './platform';

// Tool output is arbitrary bytes; Postgres stores neither NUL nor invalid UTF-8 in jsonb. Missions that print
// such bytes or read binary files must succeed, and their output must read back exactly through the API.
const context = usePlatform();

interface Observation {
  stdout: string;
  stdout_base64?: string;
  stderr: string;
  content?: string;
  encoding?: string;
  size?: number;
  truncated?: boolean;
}

async function run(plan: object[]) {
  const created = await context.platform.request('POST', '/v1/missions', { goal: 'bytes', plan });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  const mission = await context.platform.waitForMission(id);
  const steps = (await (await context.platform.request('GET', `/v1/missions/${id}/steps`)).json()) as { data: { observation: Observation }[] };
  return { mission, observations: steps.data.map((step) => step.observation) };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

test('a step printing NUL bytes succeeds; stdout reads as text and its bytes come back exactly', async () => {
  const { mission, observations } = await run([shell("printf 'a\\0b\\n'")]);

  expect(mission.status).toBe('succeeded');
  expect(observations[0]).toMatchObject({ stdout: 'a\uFFFDb\n', stdout_base64: Buffer.from('a\0b\n').toString('base64') });
  expect(mission.result).toEqual({ output: 'a\uFFFDb\n' });
});

test('random bytes on stdout are kept exactly in base64, checked against a hash taken inside the sandbox', async () => {
  const { mission, observations } = await run([
    shell('head -c 2000 /dev/urandom > random.bin'),
    shell('cat random.bin'),
    shell("sha256sum random.bin | cut -d' ' -f1"),
  ]);

  expect(mission.status).toBe('succeeded');
  const bytes = Buffer.from(observations[1]!.stdout_base64!, 'base64');
  expect(bytes).toHaveLength(2000);
  expect(sha256(bytes)).toBe(observations[2]!.stdout.trim());
});

test('read_file of a binary file returns base64; write_file writes base64 content byte for byte', async () => {
  const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 0x0a, 0x00]);
  const { mission, observations } = await run([
    { tool: 'write_file', input: { path: 'blob.bin', content: binary.toString('base64'), encoding: 'base64' } },
    shell('od -An -tx1 blob.bin'),
    { tool: 'read_file', input: { path: 'blob.bin' } },
  ]);

  expect(mission.status).toBe('succeeded');
  expect(observations[1]!.stdout.trim().split(/\s+/)).toEqual(['00', '01', '02', 'ff', 'fe', '80', '0a', '00']);
  expect(observations[2]).toEqual({ path: 'blob.bin', content: binary.toString('base64'), encoding: 'base64', size: 8, truncated: false });
});

test('output truncated in the middle of multi-byte characters stays valid text, cut between characters', async () => {
  const { mission, observations } = await run([
    shell(`python3 -c "print('x' + 'é' * 20001)"`),
    { tool: 'write_file', input: { path: 'accents.txt', content: 'é'.repeat(100) } },
    { tool: 'read_file', input: { path: 'accents.txt', max_bytes: 7 } },
  ]);

  expect(mission.status).toBe('succeeded');
  const { stdout, stdout_base64 } = observations[0]!;
  expect(stdout_base64).toBeUndefined();
  expect(stdout).toMatch(/^xé+\n\[\.\.\. \d+ bytes omitted \.\.\.\]\né+\n$/);
  const omitted = Number(/(\d+) bytes omitted/.exec(stdout)![1]);
  const kept = Buffer.byteLength(stdout.replace(/\n\[\.\.\. \d+ bytes omitted \.\.\.\]\n/, ''));
  expect(kept + omitted).toBe(40_004);
  // Seven bytes cut the fourth é in half: the text ends after three.
  expect(observations[2]).toEqual({ path: 'accents.txt', content: 'ééé', encoding: 'utf-8', size: 200, truncated: true });
});

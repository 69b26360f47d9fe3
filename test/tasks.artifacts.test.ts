import { createHash, randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import IORedis from 'ioredis';
import * as tar from 'tar-stream';
import { RetentionPurger } from '../store/retention';
import { createTenant, shell, usePlatform } from './platform';

// Artifacts out: files under /workspace matching the mission's globs, collected when it ends, whatever its
// outcome, before its sandbox goes. At most 64 KiB together here, so the cap is cheap to cross.
const context = usePlatform({ env: { ARTIFACT_MAX_BYTES: String(64 << 10) } });

const binary = randomBytes(3_000);
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const writeBinary = { tool: 'write_file', input: { path: 'out/data.bin', content: binary.toString('base64'), encoding: 'base64' } };

type Listing = { summary: { kept: number; bytes: number; left_out: { path: string; bytes: number; reason: string }[] } | null; data: { path: string; bytes: number; sha256: string }[] };
const listing = async (id: string, headers?: Record<string, string>) => (await context.platform.request('GET', `/v1/missions/${id}/artifacts`, undefined, headers)).json() as Promise<Listing>;

async function untar(gzipped: Buffer): Promise<Record<string, Buffer>> {
  const extract = tar.extract();
  const files: Record<string, Buffer> = {};
  const reading = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      files[entry.header.name] = Buffer.concat(chunks);
    }
  })();
  extract.end(gunzipSync(gzipped));
  await reading;
  return files;
}

test('a succeeded mission keeps the files its globs match: listed, one by one byte-exact, all as a tar.gz, in its results line', async () => {
  const response = await context.platform.request('POST', '/v1/missions/batch', {
    missions: [{ goal: 'make a patch', custom_id: 'p', artifacts: ['out/**', '*.diff'], plan: [shell('mkdir -p out/deep && echo fix > patch.diff && echo deep > out/deep/log.txt && echo not kept > notes.txt'), writeBinary] }],
  });
  const { batch_id: batchId, items } = (await response.json()) as { batch_id: string; items: { id: string }[] };
  const mission = await context.platform.waitForMission(items[0]!.id);
  expect(mission.status).toBe('succeeded');

  const { summary, data } = await listing(mission.id);
  expect(summary).toEqual({ kept: 3, bytes: 3_000 + 4 + 5, left_out: [] });
  expect(data).toEqual([
    { path: 'out/data.bin', bytes: 3_000, sha256: sha256(binary) },
    { path: 'out/deep/log.txt', bytes: 5, sha256: sha256('deep\n') },
    { path: 'patch.diff', bytes: 4, sha256: sha256('fix\n') },
  ]);
  const one = await context.platform.request('GET', `/v1/missions/${mission.id}/artifacts/out/data.bin`);
  expect(one.headers.get('content-disposition')).toContain('data.bin');
  expect(Buffer.from(await one.arrayBuffer()).equals(binary)).toBe(true);
  expect((await context.platform.request('GET', `/v1/missions/${mission.id}/artifacts/notes.txt`)).status).toBe(404);
  const archive = await untar(Buffer.from(await (await context.platform.request('GET', `/v1/missions/${mission.id}/artifacts.tar.gz`)).arrayBuffer()));
  expect(Object.keys(archive).sort()).toEqual(['out/data.bin', 'out/deep/log.txt', 'patch.diff']);
  expect(archive['out/data.bin']!.equals(binary)).toBe(true);

  const line = JSON.parse((await (await context.platform.request('GET', `/v1/batches/${batchId}/results`)).text()).trim()) as { artifacts: object[] };
  expect(line.artifacts).toEqual(data);
});

test('a failed mission and a timed-out one keep theirs too', async () => {
  const failed = await context.platform.run({ goal: 'fail', artifacts: ['out/*'], plan: [shell('mkdir out && echo partial > out/result.txt && exit 1')] });
  expect(failed.status).toBe('failed');
  expect((await listing(failed.id)).data.map((file) => file.path)).toEqual(['out/result.txt']);

  // The deadline passes while a step sleeps: the step ends at the deadline, and its sandbox is there to collect from.
  const timedOut = await context.platform.run({ goal: 'run out of time', deadline_s: 2, artifacts: ['out/*'], plan: [shell('mkdir out && echo before > out/progress.txt && sleep 60')] });
  expect(timedOut).toMatchObject({ status: 'timed_out', error: { code: 'ERR_DEADLINE' } });
  expect(timedOut.steps[0]!.error).toBe('the mission reached its deadline while this step ran');
  expect((await listing(timedOut.id)).data).toEqual([{ path: 'out/progress.txt', bytes: 7, sha256: sha256('before\n') }]);
});

test('past ARTIFACT_MAX_BYTES, what was kept and what was left out is said', async () => {
  const mission = await context.platform.run({ goal: 'too much', artifacts: ['*.bin'], plan: [shell('head -c 40000 /dev/zero > a.bin && head -c 40000 /dev/zero > b.bin && echo x > c.bin')] });

  expect(mission.status).toBe('succeeded');
  const { summary, data } = await listing(mission.id);
  expect(data.map((file) => file.path)).toEqual(['a.bin', 'c.bin']);
  expect(summary).toEqual({ kept: 2, bytes: 40_002, left_out: [{ path: 'b.bin', bytes: 40_000, reason: 'past ARTIFACT_MAX_BYTES (65536 bytes together)' }] });
  const shown = (await (await context.platform.request('GET', `/v1/missions/${mission.id}`)).json()) as { artifacts: object };
  expect(shown.artifacts).toEqual({ globs: ['*.bin'], collected: summary });
});

test("another tenant's artifacts are a 404; retention purges them with their mission", async () => {
  const mission = await context.platform.run({ goal: 'mine', artifacts: ['secret.txt'], plan: [shell('echo mine > secret.txt')] });
  const other = await createTenant(context.platform, `artifacts-other-${Date.now()}`);
  for (const path of ['artifacts', 'artifacts/secret.txt', 'artifacts.tar.gz']) {
    expect((await context.platform.request('GET', `/v1/missions/${mission.id}/${path}`, undefined, other)).status).toBe(404);
  }

  const { env } = context;
  const longAgo = new Date(Date.now() - 40 * 86_400_000);
  await env.db('missions').where({ id: mission.id }).update({ created_at: longAgo, finished_at: longAgo });
  const redis = new IORedis(env.config.REDIS_URL);
  try {
    await new RetentionPurger(env.db, redis, env.config.QUEUE_PREFIX, 'artifacts-test', { retentionDays: 30 }).purge();
  } finally {
    redis.disconnect();
  }
  expect(await env.db('artifacts').where({ mission_id: mission.id }).count({ n: '*' })).toEqual([{ n: '0' }]);
});

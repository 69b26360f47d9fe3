import { createHash, randomBytes } from 'node:crypto';
import { tarGzOf, tarOf, zipOf, type TestEntry } from './archives';
import { createTenant, shell, usePlatform } from './platform';

// Files in: archives uploaded once per content and tenant, checked on the host without writing anything, and
// unpacked into /workspace inside the sandbox before the mission's first step. Workspaces of 8 MiB and uploads of
// at most 1 MiB here, so a bomb is small to build.
const context = usePlatform({ env: { SANDBOX_WORKSPACE_MB: '8', FILE_MAX_BYTES: String(1 << 20) } });
const octets = { 'content-type': 'application/octet-stream' };

async function upload(body: Buffer, headers: Record<string, string> = {}) {
  const response = await context.platform.request('POST', '/v1/files', body, { ...octets, ...headers });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> & { file_id: string; detail?: string } };
}

const binary = randomBytes(4_096);
const project: TestEntry[] = [
  { name: 'src/', type: 'directory' },
  { name: 'src/main.py', content: 'print("hi")\n', mode: 0o644 },
  { name: 'run.sh', content: '#!/bin/sh\necho ran\n', mode: 0o755 },
  { name: 'data.bin', content: binary, mode: 0o600 },
  { name: 'main', type: 'symlink', target: 'src/main.py' },
];

test('a tar, a tar.gz and a zip: each stored once per content, and unpacked with modes, links and bytes exact', async () => {
  const [tarBody, tarGzBody, zipBody] = await Promise.all([tarOf(project), tarGzOf(project), zipOf(project)]);
  const tarFile = await upload(tarBody);
  expect(tarFile.status).toBe(201);
  expect(tarFile.body).toMatchObject({ bytes: tarBody.length, sha256: createHash('sha256').update(tarBody).digest('hex'), entries: 5 });
  // The same archive again is the same file.
  const again = await upload(tarBody);
  expect(again).toMatchObject({ status: 200, body: { file_id: tarFile.body.file_id } });
  const [tarGzFile, zipFile] = await Promise.all([upload(tarGzBody), upload(zipBody)]);
  expect([tarGzFile.status, zipFile.status]).toEqual([201, 201]);
  expect((await context.platform.request('GET', `/v1/files/${zipFile.body.file_id}`)).status).toBe(200);

  const check = 'cd /workspace && for d in . gz zip; do (cd $d && stat -c "%n %a" run.sh data.bin src/main.py && readlink main && ./run.sh && sha256sum data.bin | cut -c1-64); done; cat notes/todo.txt';
  const mission = await context.platform.run({
    goal: 'look at the files',
    environment: {
      files: [{ file_id: tarFile.body.file_id }, { file_id: tarGzFile.body.file_id, path: 'gz' }, { file_id: zipFile.body.file_id, path: 'zip' }, { path: 'notes/todo.txt', content: 'fix it\n' }],
    },
    plan: [shell(check)],
  });

  expect(mission.status).toBe('succeeded');
  const digest = createHash('sha256').update(binary).digest('hex');
  const perArchive = ['run.sh 755', 'data.bin 600', 'src/main.py 644', 'src/main.py', 'ran', digest].join('\n');
  expect(mission.steps[0]!.observation!.stdout).toBe(`${perArchive}\n${perArchive}\n${perArchive}\nfix it\n`);
});

test.each<[string, () => Promise<Buffer>, RegExp]>([
  ['an absolute path', () => tarOf([{ name: '/etc/evil', content: 'x' }]), /absolute path/],
  ['a path going up with ..', () => tarOf([{ name: 'a/../../evil', content: 'x' }]), /goes up/],
  ['a link pointing out', () => tarOf([{ name: 'out', type: 'symlink', target: '../..' }]), /points out/],
  ['an absolute link', () => tarOf([{ name: 'etc', type: 'symlink', target: '/etc' }]), /absolute path/],
  ['a file written through a link', () => tarOf([{ name: 'here', type: 'symlink', target: '.' }, { name: 'here/x', content: 'x' }]), /written through the link/],
  ['a link going up from another link', () => tarOf([{ name: 'a', type: 'symlink', target: 'b' }, { name: 'b', type: 'directory' }, { name: 'c', type: 'symlink', target: 'a/..' }]), /goes up \(\.\.\) from another link/],
  ['a device node', () => tarOf([{ name: 'null', type: 'character-device' }]), /device node/],
  ['a hard link', () => tarOf([{ name: 'a', content: 'x' }, { name: 'b', type: 'link', target: 'a' }]), /hard link/],
  ['a zip going up', () => zipOf([{ name: 'ok', content: 'x' }]).then((zip) => Buffer.from(zip.toString('latin1').replaceAll('ok', '..'), 'latin1')), /not a tar, tar.gz or zip|goes up/],
  ['a zip bomb past the workspace', () => zipOf([{ name: 'zeros', content: Buffer.alloc(9 << 20) }]), /more than 8388608 bytes unpacked/],
  ['a gzip bomb past the workspace', () => tarGzOf([{ name: 'zeros', content: Buffer.alloc(9 << 20) }]), /more than 8388608 bytes unpacked/],
  ['bytes that are no archive', async () => Buffer.from('just some text, not an archive at all'.repeat(20)), /not a tar, tar.gz or zip/],
])('%s is refused on upload with a 422 saying why', async (_what, make, reason) => {
  const body = await make();
  // A bomb is small: it stops at its bound, not at what it would unpack to.
  expect(body.length).toBeLessThan(1 << 20);
  const { status, body: problem } = await upload(body);
  expect(status).toBe(422);
  expect(problem).toMatchObject({ type: expect.stringContaining('invalid-archive') });
  expect(problem.detail).toMatch(reason);
});

test("another tenant's file is a 404, to read and to name in a mission", async () => {
  const mine = await upload(await tarOf([{ name: 'secret.txt', content: 'mine' }]));
  const other = await createTenant(context.platform, `files-other-${Date.now()}`);
  expect((await context.platform.request('GET', `/v1/files/${mine.body.file_id}`, undefined, other)).status).toBe(404);
  const submitted = await context.platform.request('POST', '/v1/missions', { goal: 'steal', environment: { files: [{ file_id: mine.body.file_id }] }, plan: [shell('cat secret.txt')] }, other);
  expect(submitted.status).toBe(404);
  // The same bytes uploaded by the other tenant are a file of its own.
  const theirs = await upload(await tarOf([{ name: 'secret.txt', content: 'mine' }]), other);
  expect(theirs.status).toBe(201);
  expect(theirs.body.file_id).not.toBe(mine.body.file_id);
});

test('files that cannot fit the workspace are a 400 at submission; unpacked, past the workspace, they fail the mission with ERR_FILES before any step', async () => {
  const half = await upload(await tarGzOf([{ name: 'half', content: Buffer.alloc(5 << 20, 'a') }]));
  const twice = await context.platform.request('POST', '/v1/missions', { goal: 'too much', environment: { files: [{ file_id: half.body.file_id }, { file_id: half.body.file_id, path: 'again' }] }, plan: [shell('true')] });
  expect(twice.status).toBe(400);
  expect(JSON.stringify(await twice.json())).toMatch(/more than the workspace/);

  // 3,000 one-byte files hold 3 KB, but a file takes a page of the workspace's tmpfs: they do not fit in 8 MiB.
  const many = await upload(await tarGzOf(Array.from({ length: 3_000 }, (_, index) => ({ name: `f${index}`, content: 'x' }))));
  expect(many.status).toBe(201);
  const mission = await context.platform.run({ goal: 'unpack', environment: { files: [{ file_id: many.body.file_id }] }, plan: [shell('echo should not run')] });
  expect(mission).toMatchObject({ status: 'failed', step_count: 0, error: { code: 'ERR_FILES' } });
  expect(mission.error!.message).toMatch(/could not be unpacked into \/workspace/);
});

test('an upload is refused when it is empty, compressed in transit, or past FILE_MAX_BYTES', async () => {
  expect((await upload(Buffer.alloc(0))).status).toBe(400);
  const encoded = await context.platform.request('POST', '/v1/files', await tarGzOf(project), { ...octets, 'content-encoding': 'gzip' });
  expect(encoded.status).toBe(415);
  const large = await context.platform.request('POST', '/v1/files', randomBytes((1 << 20) + 1), octets);
  expect(large.status).toBe(413);
});

test('an inline file path going up, or absolute, is a 400 naming the field', async () => {
  for (const path of ['../x', '/etc/passwd']) {
    const response = await context.platform.request('POST', '/v1/missions', { goal: 'x', environment: { files: [{ path, content: 'x' }] }, plan: [shell('true')] });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain('environment');
  }
});

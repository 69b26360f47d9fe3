import { rmSync, writeFileSync } from 'node:fs';
import Docker from 'dockerode';
import { SandboxGoneError, SandboxRequestError } from '../sandbox/errors';
import { SandboxPool } from '../sandbox/pool';
import type { Sandbox } from '../sandbox/sandbox';
import { hostProcessesOf, removeSandboxes, standaloneDriver } from './harness';
import { waitFor } from './waitFor';

// Hostile mission code against real gVisor sandboxes. Each case must end in a clear step error or result,
// with the host untouched and the pool still serving healthy sandboxes.
const owner = `test-hostile-${process.pid}`;
const docker = new Docker();
const driver = standaloneDriver(owner, { memoryBytes: 128 << 20, pids: 256, workspaceBytes: 8 << 20 });
const pool = new SandboxPool(driver, { size: 1 });
const limits = { timeoutMs: 10_000, maxOutputBytes: 10_240 };
// Heavy cases are about how they end (a limit, a truncation), not how fast: their steps get far more time than
// they need on a loaded machine, so a slow one cannot end in a timeout instead (the test's own bound is above).
const heavy = { ...limits, timeoutMs: 100_000 };
const HEAVY_TEST_MS = 120_000;

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await pool.acquire();
});
afterEach(() => {
  pool.release(sandbox);
});
afterAll(async () => {
  await pool.close();
  driver.close();
  await removeSandboxes(owner);
});

async function expectHealthyPool(): Promise<void> {
  const fresh = await pool.acquire();
  try {
    expect((await fresh.run('echo ok', limits)).stdout).toBe('ok\n');
  } finally {
    pool.release(fresh);
  }
}

test('a fork bomb is stopped at the pids limit: the sandbox ends with a clear reason, the host is untouched', async () => {
  expect(hostProcessesOf(sandbox.id)).toBeGreaterThan(0);

  const outcome = await sandbox.run('f() { f | f; }; f', heavy).catch((error: unknown) => error);

  expect(outcome).toBeInstanceOf(SandboxGoneError);
  expect((outcome as Error).message).toMatch(/process limit/);
  pool.release(sandbox);
  await sandbox.destroy(); // the pool removes it in the background; this waits for that removal
  expect(hostProcessesOf(sandbox.id)).toBe(0);
  await expectHealthyPool();
}, HEAVY_TEST_MS);

test('a memory bomb is reported as out of memory', async () => {
  const outcome = await sandbox.run('python3 -c "b = bytearray(512 << 20)"', heavy).catch((error: unknown) => error);

  expect(outcome).toBeInstanceOf(SandboxGoneError);
  expect((outcome as Error).message).toMatch(/out of memory/);
  await expectHealthyPool();
}, HEAVY_TEST_MS);

test('a step past its timeout is killed with every process it started', async () => {
  const result = await sandbox.run('sleep 1000 & sleep 1000', { ...limits, timeoutMs: 2_000 });

  expect(result).toMatchObject({ timed_out: true, exit_code: 124 });
  const left = await sandbox.run('for p in /proc/[0-9]*; do cat $p/comm; done', limits);
  expect(left.stdout).not.toMatch(/sleep/);
  expect(left.stdout).toMatch(/mission-channel/);
});

test('50 MB of output becomes a truncated observation, and the worker stays small', async () => {
  const rssBefore = process.memoryUsage().rss;

  const result = await sandbox.run("head -c 50000000 /dev/zero | tr '\\0' x", heavy);

  expect(result.exit_code).toBe(0);
  expect(result.stdout_bytes).toBe(50_000_000);
  expect(result.stdout.length).toBeLessThan(10_400);
  expect(result.stdout).toMatch(/^x+\n\[\.\.\. 49989760 bytes omitted \.\.\.\]\nx+$/);
  expect(process.memoryUsage().rss - rssBefore).toBeLessThan(40 << 20);
}, HEAVY_TEST_MS);

test('writing past the tmpfs limit fails with "no space" and writes nothing outside the sandbox', async () => {
  const result = await sandbox.run('dd if=/dev/zero of=big bs=1M count=100', heavy);

  expect(result.exit_code).not.toBe(0);
  expect(result.stderr).toMatch(/No space left on device/);
  // Docker's diff of the container's root filesystem: null, nothing changed.
  const changes: Buffer = await docker.getContainer(sandbox.id).changes();
  expect(JSON.parse(changes.toString())).toBeNull();
}, HEAVY_TEST_MS);

test("the host's Redis, Postgres and network cannot be reached, and its files are not visible", async () => {
  const marker = `/tmp/mission-control-marker-${process.pid}`;
  writeFileSync(marker, 'host secret');
  try {
    const probe = [
      'cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d " "',
      `test -e ${marker} && echo host-file-visible`,
      'test -e /var/lib/mission-control && echo host-state-visible',
      'test -e /var/run/docker.sock && echo docker-socket-visible',
      `python3 -c "
import socket
for port in (6379, 5432):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=2); print('reached', port)
    except OSError as e:
        print('refused', port)
"`,
    ].join('; ');
    const result = await sandbox.run(probe, limits);

    expect(result.stdout.split('\n').filter(Boolean)).toEqual(['lo', 'refused 6379', 'refused 5432']);
  } finally {
    rmSync(marker);
  }
});

test('killing the sandbox main process fails the step clearly, and the pool replaces the sandbox', async () => {
  const outcome = await sandbox.run('kill -9 1', limits).catch((error: unknown) => error);

  expect(outcome).toBeInstanceOf(SandboxGoneError);
  expect((outcome as Error).message).toBe('sandbox is gone: its main process was killed (SIGKILL)');
  await expectHealthyPool();
});

test('a warm sandbox that dies while idle is replaced', async () => {
  await waitFor(() => pool.stats().idle === 1);
  const [idle] = pool.sandboxes().filter((candidate) => candidate !== sandbox);
  const lost = new Promise((resolve) => pool.once('lost', resolve));

  await docker.getContainer(idle!.id).kill();

  await lost;
  await waitFor(() => pool.stats().idle === 1);
  await expectHealthyPool();
});

test.each([
  ['../../etc/passwd'],
  ['/etc/passwd'],
  ['/workspace/../etc/passwd'],
  ['link/passwd'],
  ['link-to-file'],
])('read_file and write_file refuse %s', async (path) => {
  await sandbox.run('ln -s /etc link; ln -s /etc/passwd link-to-file', limits);

  await expect(sandbox.readFile(path, 1024)).rejects.toThrow(SandboxRequestError);
  await expect(sandbox.writeFile(path, Buffer.from('x'))).rejects.toThrow(SandboxRequestError);
  expect((await sandbox.run('head -1 /etc/passwd', limits)).stdout).toMatch(/^root:/);
});

test('read_file and write_file refuse a FIFO at once, instead of blocking the channel until the sandbox dies', async () => {
  await sandbox.run('mkfifo pipe', limits);

  // Opening the FIFO would block the channel for good (nobody writes to it): a refusal that names the file's
  // kind shows it was checked first, and the channel still answers.
  await expect(sandbox.readFile('pipe', 1024)).rejects.toThrow('cannot read pipe: it is not a regular file (a FIFO, a socket or a device)');
  await expect(sandbox.writeFile('pipe', Buffer.from('x'))).rejects.toThrow('cannot write pipe: it is not a regular file');

  expect((await sandbox.run('echo still here', limits)).stdout).toBe('still here\n');
});

test('read_file and write_file work inside /workspace, by relative or absolute path', async () => {
  await sandbox.writeFile('notes/today.txt', Buffer.from('hello'));

  expect((await sandbox.readFile('/workspace/notes/today.txt', 1024)).data.toString()).toBe('hello');
  expect(await sandbox.readFile('notes/../notes/today.txt', 3)).toEqual({ data: Buffer.from('hel'), size: 5 });
  expect((await sandbox.run('cat notes/today.txt', limits)).stdout).toBe('hello');
});

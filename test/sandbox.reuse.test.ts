import { SandboxGoneError } from '../sandbox/errors';
import type { ReuseOptions } from '../sandbox/parked';
import { SandboxPool, type PoolStats } from '../sandbox/pool';
import type { Sandbox } from '../sandbox/sandbox';
import { hostProcessesOf, removeSandboxes, standaloneDriver } from './harness';
import { waitFor } from './waitFor';

// SANDBOX_REUSE=tenant against real gVisor sandboxes: what a mission leaves behind, and when a sandbox is
// never handed to another mission.
const owner = `test-reuse-${process.pid}`;
const driver = standaloneDriver(owner, { memoryBytes: 128 << 20 });
const reuse: ReuseOptions = { maxMissions: 10, maxAgeMs: 600_000, maxParked: 2, resetTimeoutMs: 5_000 };
const step = { timeoutMs: 10_000, maxOutputBytes: 20_480 };
const pools: SandboxPool[] = [];
const alice = { tenant: 'alice' };
const bob = { tenant: 'bob' };

function reusingPool(options: Partial<ReuseOptions> = {}): SandboxPool {
  const pool = new SandboxPool(driver, { size: 0, reuse: { ...reuse, ...options } });
  pools.push(pool);
  return pool;
}

/** Releases a sandbox and waits until the pool has either parked it or removed it. */
async function released(pool: SandboxPool, sandbox: Sandbox): Promise<PoolStats> {
  pool.release(sandbox);
  await waitFor(() => pool.stats().resetting === 0 && pool.stats().removing === 0, 30_000, 'the reset or removal');
  return pool.stats();
}

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close()));
  driver.close();
  await removeSandboxes(owner);
});

// Everything a mission can leave in its sandbox, each kind once. Run as one step, as a mission would.
const LEAVE_EVERYTHING = [
  'echo secret > /workspace/notes.txt && mkdir -p /workspace/deep/er && echo x > /workspace/deep/er/f',
  'echo secret > /tmp/cache && echo secret > /dev/shm/segment && mkfifo /workspace/fifo',
  'ln -s /etc/passwd /workspace/outside && ln -s /workspace /tmp/loop',
  'echo x > /workspace/locked && chmod 0400 /workspace/locked && chmod 0500 /workspace/deep/er && chmod 0 /workspace/deep',
  'sleep 1000 > /dev/null 2>&1 &',
  "sh -c 'trap \"\" TERM HUP INT; while :; do sleep 1; done' > /dev/null 2>&1 &",
  'ipcmk -M 4096 2>&1; ipcmk -S 1 2>&1; ipcmk -Q 2>&1',
  'python3 -c "import ctypes; print(\'shmget\', ctypes.CDLL(None, use_errno=True).shmget(0, 4096, 0o1600), ctypes.get_errno())"',
  // A POSIX message queue outlives its process in the IPC namespace, and gVisor mounts no /dev/mqueue to list it by.
  'python3 -c "import ctypes; rt = ctypes.CDLL(\'librt.so.1\', use_errno=True); print(\'mq_open\', rt.mq_open(b\'/left\', 0o102, 0o600, None), ctypes.get_errno())"',
  'echo left',
].join('\n');

// What the next mission sees: files in the scratch directories, processes other than the channel and this
// step, and SysV IPC objects as the kernel counts them (shm_info.used_ids, msginfo.msgpool, seminfo.semusz).
const LOOK_AROUND = [
  'ls -A /workspace /tmp /dev/shm',
  'for p in /proc/[0-9]*; do [ "${p#/proc/}" = $$ ] || [ "${p#/proc/}" = 1 ] || echo "process $(tr "\\0" " " < $p/cmdline)"; done',
  `python3 -c "
import ctypes, struct
libc, buf = ctypes.CDLL(None), ctypes.create_string_buffer(256)
libc.shmctl(0, 14, buf); shm = struct.unpack_from('i', buf)[0]
libc.msgctl(0, 12, buf); msg = struct.unpack_from('i', buf)[0]
libc.semctl(0, 0, 19, buf); sem = struct.unpack_from('10i', buf)[7]
print('ipc', shm, msg, sem)"`,
].join('\n');

test('a reset sandbox shows the same tenant\'s next mission nothing of the last one', async () => {
  const pool = reusingPool();
  const first = await pool.acquire(undefined, alice);
  const left = await first.run(LEAVE_EVERYTHING, step);
  expect(left.stdout).toMatch(/left\n$/);
  // SysV IPC and POSIX queues are refused outright: a reset could not remove them, as they belong to no process and no file.
  expect(left.stdout.match(/Operation not permitted/g)).toHaveLength(3);
  expect(left.stdout).toContain('shmget -1 1'); // EPERM
  expect(left.stdout).toContain('mq_open -1 1');

  expect(await released(pool, first)).toMatchObject({ parked: 1, inUse: 0 });
  const next = await pool.acquire(undefined, alice);
  expect(next).toBe(first);
  const seen = await next.run(LOOK_AROUND, step);

  expect(seen.stderr).toBe('');
  expect(seen.stdout).toBe('/dev/shm:\n\n/tmp:\n\n/workspace:\nipc 0 0 0\n');
  expect((await next.run('stat -c %a /workspace && touch /workspace/new && echo writable', step)).stdout).toBe('700\nwritable\n');
  pool.release(next);
});

test('a parked sandbox never serves another tenant, and the least recently used goes when the bound is reached', async () => {
  const pool = reusingPool({ maxParked: 1 });
  const alices = await pool.acquire(undefined, alice);
  await released(pool, alices);

  const bobs = await pool.acquire(undefined, bob);
  expect(bobs).not.toBe(alices);
  expect(pool.stats().parked).toBe(1); // alice's, waiting for her
  // Bob's parks over the bound of one: alice's, the least recently used, is removed.
  expect(await released(pool, bobs)).toMatchObject({ parked: 1 });
  expect(alices.alive).toBe(false);
  expect(await pool.acquire(undefined, bob)).toBe(bobs);
  expect(() => bobs.lendTo('alice')).toThrow(/another tenant/);
});

test('a mission that asks for a fresh sandbox gets one no mission ran in', async () => {
  const pool = reusingPool();
  const used = await pool.acquire(undefined, alice);
  await released(pool, used);

  const fresh = await pool.acquire(undefined, { tenant: 'alice', fresh: true });
  expect(fresh).not.toBe(used);
  expect(fresh.missions).toBe(1);
  pool.release(fresh);
});

test.each([
  ['a step timed out', (sandbox: Sandbox) => sandbox.run('sleep 30', { ...step, timeoutMs: 300 })],
  ['it ran out of memory', (sandbox: Sandbox) => sandbox.run('python3 -c "b = bytearray(512 << 20)"', { ...step, timeoutMs: 100_000 }).catch((error: unknown) => error)],
  ['a step stopped gVisor (the pids limit)', (sandbox: Sandbox) => sandbox.run('f() { f | f; }; f', { ...step, timeoutMs: 100_000 }).catch((error: unknown) => error)],
  ['a process wrote a reply to the channel', (sandbox: Sandbox) => sandbox.run('echo "OK 424242" > /proc/1/fd/1; sleep 0.2; echo done', step).catch((error: unknown) => error)],
])('a sandbox is never reused after %s', async (_case, spoil) => {
  const pool = reusingPool();
  const sandbox = await pool.acquire(undefined, alice);
  await spoil(sandbox);
  expect(sandbox.spoiled).toBeDefined();

  expect(await released(pool, sandbox)).toMatchObject({ parked: 0 });
  const next = await pool.acquire(undefined, alice);
  expect(next).not.toBe(sandbox);
  expect(next.missions).toBe(1);
  pool.release(next);
}, 120_000);

test('a reset that cannot put the sandbox back as it started fails, and the sandbox is removed', async () => {
  const pool = reusingPool();
  const failures: Error[] = [];
  pool.on('resetFailed', (_sandbox, error) => failures.push(error));
  const sandbox = await pool.acquire(undefined, alice);
  // A step may lower the hard limits of the channel (it runs as the same user); nothing can raise them again.
  await sandbox.run('prlimit --pid 1 --nofile=512:512', step);

  expect(await released(pool, sandbox)).toMatchObject({ parked: 0 });
  expect(failures.map((error) => error.message)).toEqual(['the reset failed: limits were changed']);
  expect(sandbox.alive).toBe(false);
  expect(await pool.acquire(undefined, alice)).not.toBe(sandbox);
});

test('a process that takes the reset request cannot answer it: the reset fails, and the sandbox is not reused', async () => {
  const pool = reusingPool();
  const sandbox = await pool.acquire(undefined, alice);
  const before = hostProcessesOf(sandbox.id);
  // While the channel runs a step, a process of the step reads the channel's next request from its stdin (a
  // step can open /proc/1/fd/0 under gVisor) and answers it as a reset would, with a made-up secret.
  const forger = `(head -n 1 /proc/1/fd/0 | awk '{ print "WIPED", $2, "${'0'.repeat(64)}" }' > /proc/1/fd/1) & sleep 30`;
  const running = sandbox.run(forger, step).catch((error: unknown) => error);
  await waitFor(() => hostProcessesOf(sandbox.id) >= before + 3, 30_000, 'the step and the forger running');

  const reset = await sandbox.reset(5_000).catch((error: unknown) => error);

  expect(reset).toBeInstanceOf(SandboxGoneError);
  expect((reset as Error).message).toMatch(/without its secret/);
  expect(await running).toBeInstanceOf(SandboxGoneError);
  expect(await released(pool, sandbox)).toMatchObject({ parked: 0 });
  expect(await pool.acquire(undefined, alice)).not.toBe(sandbox);
});

test('a sandbox serves at most its cap of missions, and none past its age', async () => {
  const capped = reusingPool({ maxMissions: 2 });
  const sandbox = await capped.acquire(undefined, alice);
  await released(capped, sandbox);
  expect(await capped.acquire(undefined, alice)).toBe(sandbox);
  expect(await released(capped, sandbox)).toMatchObject({ parked: 0 });
  expect(await capped.acquire(undefined, alice)).not.toBe(sandbox);

  const aged = reusingPool({ maxAgeMs: 1 });
  const old = await aged.acquire(undefined, alice);
  await waitFor(() => old.ageMs >= 1);
  expect(await released(aged, old)).toMatchObject({ parked: 0 });
});

test("at the pool's bound, another tenant's mission is not kept waiting by parked sandboxes: the oldest makes room", async () => {
  const pool = new SandboxPool(driver, { size: 0, maxSandboxes: 1, reuse });
  pools.push(pool);
  const alices = await pool.acquire(undefined, alice);
  expect(await released(pool, alices)).toMatchObject({ parked: 1 });

  // Holding its one sandbox parked for alice, the pool is at its bound: bob's acquire pushes it out.
  const bobs = await pool.acquire(undefined, bob);
  expect(bobs).not.toBe(alices);
  expect(alices.alive).toBe(false);
  expect(pool.stats()).toMatchObject({ parked: 0, inUse: 1 });
});

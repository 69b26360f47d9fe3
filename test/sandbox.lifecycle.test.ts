import Docker from 'dockerode';
import IORedis from 'ioredis';
import { loadConfig, localSandboxImage } from '../lib/config';
import { FLEET_LABEL, OWNER_LABEL, SANDBOX_LABEL, SandboxDriver } from '../sandbox/driver';
import { SandboxStartError } from '../sandbox/errors';
import { AcquireAbortedError, SandboxPool } from '../sandbox/pool';
import { SandboxReaper } from '../sandbox/reaper';
import { SandboxStatsCollector } from '../sandbox/stats';
import { startHeartbeat } from '../lib/heartbeat';
import { removeSandboxes, sandboxesOf, watchSandboxes } from './harness';
import { waitFor } from './waitFor';

const owner = `test-lifecycle-${process.pid}`;
// Not a worker's fleet, so no worker's reaper of a parallel test file judges these sandboxes.
const fleet = 'test-standalone';
const docker = new Docker();
const driver = new SandboxDriver(docker, { image: localSandboxImage(), runtime: 'runsc', owner, fleet });
const limits = { timeoutMs: 10_000, maxOutputBytes: 10_240 };

afterAll(async () => {
  driver.close();
  await removeSandboxes(owner);
});

test('every sandbox is started hardened: gVisor, no network, read-only root, no capabilities, bounded', async () => {
  const sandbox = await driver.start();
  try {
    const { HostConfig, Config, Mounts } = await docker.getContainer(sandbox.id).inspect();
    expect(HostConfig).toMatchObject({
      Runtime: 'runsc',
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      PidsLimit: 1024,
      Memory: 512 << 20,
      MemorySwap: 512 << 20,
      NanoCpus: 1e9,
      Privileged: false,
    });
    expect(Object.keys(HostConfig.Tmpfs ?? {}).sort()).toEqual(['/tmp', '/workspace']);
    expect(Mounts).toEqual([]);
    expect(Config.User).toBe('1000:1000');
    expect(Config.Labels).toMatchObject({ [SANDBOX_LABEL]: 'true', [OWNER_LABEL]: owner, [FLEET_LABEL]: fleet });

    const probe = "id -u; grep CapEff /proc/self/status; awk '$2 == \"/\" {split($4, o, \",\"); print o[1]}' /proc/mounts; pwd; dmesg | head -1";
    const inside = await sandbox.run(probe, limits);
    expect(inside.stdout.split('\n')).toEqual([
      '1000',
      'CapEff:\t0000000000000000',
      'ro',
      '/workspace',
      expect.stringContaining('Starting gVisor'),
      '',
    ]);
  } finally {
    await sandbox.destroy();
  }
});

test('runc is refused unless the development flag allows it', () => {
  const options = { image: localSandboxImage(), runtime: 'runc', owner, fleet };
  expect(() => new SandboxDriver(docker, options)).toThrow(SandboxStartError);
  expect(() => new SandboxDriver(docker, { ...options, allowRunc: true })).not.toThrow();
});

test('the pool keeps warm sandboxes, hands them out, and replaces each one after its mission', async () => {
  const pool = new SandboxPool(driver, { size: 2 });
  const started: number[] = [];
  pool.on('started', (_sandbox, ms) => started.push(ms));
  pool.start();
  try {
    await waitFor(() => pool.stats().idle === 2);
    const warm = pool.sandboxes();

    const first = await pool.acquire();
    const second = await pool.acquire();
    const third = await pool.acquire(); // none left warm: started on demand

    expect(warm).toContain(first);
    expect(warm).toContain(second);
    expect(warm).not.toContain(third);
    expect(pool.stats()).toMatchObject({ inUse: 3, failures: 0 });
    await first.writeFile('secret.txt', Buffer.from('mission one'));
    pool.release(first);
    await waitFor(() => pool.stats().idle === 2);
    const next = await pool.acquire();
    expect(next).not.toBe(first);
    expect((await next.run('ls /workspace', limits)).stdout).toBe('');
    expect(started.length).toBeGreaterThanOrEqual(5);
  } finally {
    await pool.close();
  }
  expect(pool.stats()).toEqual({ idle: 0, inUse: 0, starting: 0, removing: 0, waiting: 0, failures: 0, parked: 0, resetting: 0, startsUnderWay: 0 });
  expect(await sandboxesOf(owner)).toEqual([]);
});

test('a mission stopped while its sandbox starts does not wait for the start: the sandbox goes once it is up', async () => {
  const pool = new SandboxPool(driver, { size: 0 });
  try {
    const stop = new AbortController();
    const acquiring = pool.acquire(stop.signal);
    expect(pool.stats().starting).toBe(1);

    stop.abort();

    await expect(acquiring).rejects.toThrow(AcquireAbortedError);
    expect(pool.stats().starting).toBe(1); // still starting: nobody waited for it
    await waitFor(() => pool.stats().starting + pool.stats().removing === 0);
    expect(pool.stats()).toMatchObject({ idle: 0, inUse: 0 });
    expect(await sandboxesOf(owner)).toEqual([]);
  } finally {
    await pool.close();
  }
});

test('starts are bounded: eight missions asking at once get their sandboxes two starts at a time', async () => {
  let underWay = 0;
  let most = 0;
  const counted = {
    start: async () => {
      most = Math.max(most, ++underWay);
      try {
        return await driver.start();
      } finally {
        underWay--;
      }
    },
  };
  const pool = new SandboxPool(counted, { size: 0, startConcurrency: 2 });
  try {
    const stopped = new AbortController();
    const given = pool.acquire(stopped.signal);
    const acquired = await Promise.all([given, ...Array.from({ length: 7 }, () => pool.acquire())]);
    expect(new Set(acquired.map((sandbox) => sandbox.id)).size).toBe(8);
    expect(most).toBe(2);
    // One stopped while waiting for its turn never starts: the eighth's turn is not spent on it.
    const waiting = [pool.acquire(), pool.acquire(), pool.acquire(stopped.signal)];
    stopped.abort();
    await expect(waiting[2]).rejects.toThrow(AcquireAbortedError);
    await Promise.all(waiting.slice(0, 2)).then((more) => acquired.push(...more));
    expect(acquired).toHaveLength(10);
    expect(most).toBe(2);
    for (const sandbox of acquired) pool.release(sandbox);
  } finally {
    await pool.close();
  }
  expect(await sandboxesOf(owner)).toEqual([]);
}, 120_000);

test('a released sandbox is killed at once: what its mission left running dies with it, before its removal', async () => {
  // One removal at a time: the last sandbox released waits behind five removals, and dies long before its own.
  const pool = new SandboxPool(driver, { size: 0, removeConcurrency: 1 });
  const events = await watchSandboxes(owner);
  try {
    const sandboxes = await Promise.all(Array.from({ length: 6 }, () => pool.acquire()));
    const [last, ahead] = [sandboxes[5]!, sandboxes[4]!];
    await last.run('sleep 1000 > /dev/null 2>&1 &', limits);
    sandboxes.forEach((sandbox) => pool.release(sandbox));

    await waitFor(() => events.at('destroy', ahead.id) !== undefined && events.at('die', last.id) !== undefined, 30_000, 'removals');
    expect(events.at('die', last.id)!).toBeLessThan(events.at('destroy', ahead.id)!);
    await waitFor(() => events.at('destroy', last.id) !== undefined, 30_000, 'the last removal');
  } finally {
    events.stop();
    await pool.close();
  }
  expect(await sandboxesOf(owner)).toEqual([]);
});

test('a pool never holds more than maxSandboxes: when removals fall behind, a mission waits for one', async () => {
  const pool = new SandboxPool(driver, { size: 1, maxSandboxes: 3, removeConcurrency: 1 });
  const held = () => Object.values(pool.stats()).slice(0, 4).reduce((sum, count) => sum + count, 0);
  let most = 0;
  let mostRunning = 0;
  const sampler = setInterval(() => void sandboxesOf(owner).then((all) => (mostRunning = Math.max(mostRunning, all.filter((one) => one.State === 'running').length))), 50);
  const heldSampler = setInterval(() => (most = Math.max(most, held())), 5);
  pool.start();
  try {
    await waitFor(() => pool.stats().idle === 1);
    const three = [await pool.acquire(), await pool.acquire(), await pool.acquire()];
    expect(held()).toBe(3);
    three.forEach((sandbox) => pool.release(sandbox));

    const fourth = pool.acquire();
    expect(pool.stats()).toMatchObject({ waiting: 1, starting: 0 });
    const sandbox = await fourth;
    expect((await sandbox.run('echo room', limits)).stdout).toBe('room\n');
    pool.release(sandbox);
    await waitFor(() => pool.stats().removing === 0 && pool.stats().idle === 1);
  } finally {
    clearInterval(sampler);
    clearInterval(heldSampler);
    await pool.close();
  }
  expect(most).toBe(3);
  expect(mostRunning).toBeLessThanOrEqual(3);
  expect(await sandboxesOf(owner)).toEqual([]);
});

test('a mission waiting at the bound gets the warm sandbox that comes next', async () => {
  const pool = new SandboxPool(driver, { size: 1, maxSandboxes: 2 });
  pool.start();
  try {
    await waitFor(() => pool.stats().idle === 1);
    const first = await pool.acquire(); // its replacement starts at once: the pool now holds its bound
    expect(pool.stats()).toMatchObject({ inUse: 1, starting: 1 });

    const second = pool.acquire();
    expect(pool.stats().waiting).toBe(1);
    const warm = await second;

    expect(pool.stats()).toMatchObject({ inUse: 2, waiting: 0, idle: 0 });
    expect((await warm.run('echo warm', limits)).stdout).toBe('warm\n');
    pool.release(first);
    pool.release(warm);
  } finally {
    await pool.close();
  }
  expect(await sandboxesOf(owner)).toEqual([]);
});

test('a pool that stops warming removes its idle sandboxes at once and starts no others, while a mission still gets one', async () => {
  const pool = new SandboxPool(driver, { size: 2 });
  pool.start();
  try {
    await waitFor(() => pool.stats().idle === 2);

    pool.stopWarming();

    expect(pool.stats()).toMatchObject({ idle: 0, starting: 0, removing: 2 });
    const late = await pool.acquire(); // started on demand
    pool.release(late);
    await waitFor(() => pool.stats().removing === 0);
    expect(pool.stats()).toMatchObject({ idle: 0, inUse: 0, starting: 0 });
    expect(await sandboxesOf(owner)).toEqual([]);
  } finally {
    await pool.close();
  }
});

test('the reaper removes sandboxes whose worker is gone (missing on two passes) and keeps those of live workers', async () => {
  const config = loadConfig();
  const redis = new IORedis(config.REDIS_URL);
  const prefix = `{test-reaper-${process.pid}}`;
  const alive = await startHeartbeat(redis, prefix, `${owner}-alive`);
  try {
    const drivers = ['alive', 'dead'].map((who) => new SandboxDriver(docker, { image: localSandboxImage(), runtime: 'runsc', owner: `${owner}-${who}`, fleet: prefix }));
    const [liveOne, orphan] = await Promise.all(drivers.map((one) => one.start()));
    drivers.forEach((one) => one.close());

    const reaper = new SandboxReaper(docker, prefix, owner, alive.isAlive, () => false, 300);

    // A heartbeat missing once may be a Redis that restarted empty a moment ago: only two passes apart count.
    expect(await reaper.reap()).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the setting under test: passes 300 ms apart
    expect(await reaper.reap()).toEqual([orphan!.id]);
    expect(await sandboxesOf(`${owner}-dead`)).toEqual([]);
    expect(await sandboxesOf(`${owner}-alive`)).toHaveLength(1);
    await liveOne!.destroy();
  } finally {
    await alive.stop();
    await removeSandboxes(`${owner}-alive`);
    redis.disconnect();
  }
});

test("the worker's own reaper leaves a released sandbox to the pool's removal queue, killed as it is", async () => {
  const pool = new SandboxPool(driver, { size: 0, removeConcurrency: 1 });
  const events = await watchSandboxes(owner);
  const reaper = new SandboxReaper(docker, fleet, owner, async () => true, (id) => pool.holds(id), 60_000);
  try {
    const three = [await pool.acquire(), await pool.acquire(), await pool.acquire()];
    three.forEach((sandbox) => pool.release(sandbox));
    const last = three[2]!;
    await waitFor(() => events.at('die', last.id) !== undefined, 30_000, 'the last one killed');
    expect(pool.holds(last.id)).toBe(true); // queued behind two removals, stopped: an "exited" sandbox of ours

    expect(await reaper.reap()).toEqual([]);
    await waitFor(() => events.at('destroy', last.id) !== undefined, 30_000, "the pool's own removal");
    expect(pool.holds(last.id)).toBe(false);
  } finally {
    events.stop();
    await pool.close();
  }
  expect(await sandboxesOf(owner)).toEqual([]);
});

test('sandbox CPU and memory are sampled in the background and served from a cache', async () => {
  const sandbox = await driver.start();
  const collector = new SandboxStatsCollector(docker, () => [sandbox]);
  try {
    expect(collector.get(sandbox.id)).toBeUndefined();
    await sandbox.run('python3 -c "import time; b = bytearray(64 << 20); time.sleep(0.2)" & sleep 0.1', limits);
    await collector.collect();
    await sandbox.run('python3 -c "sum(range(3_000_000))"', limits);
    await collector.collect();

    const usage = collector.get(sandbox.id)!;
    expect(usage.memory_bytes).toBeGreaterThan(1 << 20);
    expect(usage.memory_limit_bytes).toBe(512 << 20);
    expect(usage.cpu_percent).toBeGreaterThan(0);
  } finally {
    await sandbox.destroy();
  }
  await collector.collect();
  expect(collector.get(sandbox.id)).toBeUndefined();
});

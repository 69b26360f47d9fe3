import { startWorker, type RunningWorker } from '../apps/worker';
import { docker, removeSandboxes, sandboxesOf, testLogger } from './harness';
import { createTenant, shell, usePlatform } from './platform';

// A step can open its sandbox's channel stdout under gVisor (/proc/1/fd/1) and write to the worker directly.
// Whatever it writes, the worker every tenant shares holds a bounded number of its bytes, and only the mission
// that flooded fails.
const context = usePlatform({ env: { WORKER_CONCURRENCY: '4' } });
let second: RunningWorker | undefined;
afterAll(async () => {
  await second?.close();
  await removeSandboxes(`${context.env.owner}-second`);
});

const RSS_GROWTH_BOUND = 200 << 20;
const FLOODS = {
  // 2 GiB with no newline: a reply header that never ends.
  endless: 'head -c 2147483648 /dev/zero > /proc/1/fd/1',
  // A forged header declaring ten terabytes of payload, then the bytes to go with it.
  declared: "printf 'DONE 1 0 0 0 0 0 0 10000000000000 0\\n' > /proc/1/fd/1; head -c 2147483648 /dev/zero > /proc/1/fd/1",
};

async function submit(headers: Record<string, string>, plan: object[]): Promise<string> {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'flood', plan }, headers);
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

test("a mission flooding its channel fails alone, on one worker, with the worker's memory and the host's disk untouched", async () => {
  second = await startWorker(context.env.config, testLogger(), `${context.env.owner}-second`);
  const mallory = await createTenant(context.platform, 'mallory');
  const alice = await createTenant(context.platform, 'alice');
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
  const logsSeen = new Set<string>();
  const owners = [context.env.owner, `${context.env.owner}-second`];
  const logWatch = setInterval(() => void Promise.all(owners.map(containerLogs)).then((paths) => paths.flat().forEach((path) => logsSeen.add(path))), 200);

  try {
    const floods = await Promise.all(Object.values(FLOODS).map((command) => submit(mallory, [shell(command, 120)])));
    const others = await Promise.all(
      Array.from({ length: 4 }, (_, i) => submit(alice, [shell(`echo step one of ${i}`), shell('seq 1 1000 | tail -1'), shell(`echo done ${i}`)])),
    );

    const flooded = await Promise.all(floods.map((id) => context.platform.waitForMission(id, 120_000, mallory)));
    const finished = await Promise.all(others.map((id) => context.platform.waitForMission(id, 120_000, alice)));

    for (const mission of flooded) {
      expect(mission).toMatchObject({ status: 'failed', error: { code: 'ERR_SANDBOX_FLOOD', step: 1 } });
      expect(mission.error!.message).toMatch(/flooded its step channel/);
      // Failed as its own fault: not handed to the other worker to flood it too.
      expect(((await (await context.platform.request('GET', `/v1/missions/${mission.id}`, undefined, mallory)).json()) as { workers: string[] }).workers).toHaveLength(1);
    }
    for (const mission of finished) {
      expect(mission.status).toBe('succeeded');
      expect(mission.steps.map((step) => step.observation!.stdout)).toEqual([expect.stringMatching(/^step one of \d\n$/), '1000\n', expect.stringMatching(/^done \d\n$/)]);
    }
  } finally {
    clearInterval(sampler);
    clearInterval(logWatch);
  }
  expect(rssPeak - rssBefore).toBeLessThan(RSS_GROWTH_BOUND);
  // Docker kept no log of what the sandboxes wrote on the host (a json-file log would hold the whole flood).
  expect([...logsSeen]).toEqual([]);
});

/** Log files Docker keeps on the host for the sandboxes of `owner`, and any sandbox with a log driver at all. */
async function containerLogs(owner: string): Promise<string[]> {
  const paths: string[] = [];
  for (const info of await sandboxesOf(owner)) {
    const inspected = await docker.getContainer(info.Id).inspect().catch(() => undefined);
    if (inspected?.LogPath) paths.push(inspected.LogPath);
    if (inspected && inspected.HostConfig.LogConfig?.Type !== 'none') paths.push(`${info.Id}: log driver ${inspected.HostConfig.LogConfig?.Type}`);
  }
  return paths;
}

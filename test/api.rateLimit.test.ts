import type { ChildProcess } from 'node:child_process';
import { createRedis } from '../lib/redis';
import { scanKeys } from './harness';
import { consoleSignIn, createTenant, usePlatform } from './platform';
import { forkApi, stopProcess } from './processes';
import { waitFor } from './waitFor';
import { freePort } from './services';

// The rate limit across two API processes, each leasing tickets of the window from Redis in blocks.
const context = usePlatform({ worker: false });
let second: ChildProcess;
let secondPort: number;

beforeAll(async () => {
  secondPort = await freePort();
  second = forkApi(context.env.config, secondPort);
  await waitFor(() => fetch(`http://127.0.0.1:${secondPort}/healthz`).then((response) => response.ok, () => false), 30_000, 'second api up');
});
afterAll(async () => {
  if (second) await stopProcess(second);
});

test('two API processes together admit a limit of 1,000 a minute, short of it by at most a block each', async () => {
  const { platform, env } = context;
  const tenant = await createTenant(platform, 'busy', 1_000);
  const bases = [`http://127.0.0.1:${platform.api.port}`, `http://127.0.0.1:${secondPort}`];
  const statuses: number[] = [];
  let sent = 0;
  const client = async () => {
    while (sent < 1_203) {
      const base = bases[sent++ % 2]!;
      statuses.push((await fetch(`${base}/v1/missions?limit=1`, { headers: tenant })).status);
    }
  };
  await Promise.all(Array.from({ length: 16 }, client));

  const admitted = statuses.filter((status) => status === 200).length;
  expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
  // A block is a hundredth of the limit (10): each process may hold up to 9 tickets unused when the window fills.
  expect(admitted).toBeLessThanOrEqual(1_000);
  expect(admitted).toBeGreaterThanOrEqual(1_000 - 2 * 9);
  const redis = createRedis(env.config, 'worker');
  const keys = await scanKeys(env.config, `${env.config.QUEUE_PREFIX}:ratelimit:1000:*`);
  const leased = keys.length === 1 ? Number(await redis.get(keys[0]!)) : Number.NaN;
  redis.disconnect();
  expect(keys).toHaveLength(1);
  // Tickets went out ten at a time (one at a time would have left 1,203 here).
  expect(leased % 10).toBe(0);
  expect(leased).toBeLessThan(1_203 + 2 * 10);
});

test("console pages count against the viewer's tenant limit, shared with its API calls", async () => {
  const { platform } = context;
  const tenant = await createTenant(platform, 'browsing', 20);
  const base = `http://127.0.0.1:${platform.api.port}`;
  const { cookie } = await consoleSignIn(base, tenant.authorization!.replace('Bearer ', ''));
  const statuses: number[] = [];
  for (let page = 0; page < 25; page++) {
    statuses.push((await fetch(`${base}/console/missions`, { headers: { cookie, accept: 'text/html' }, redirect: 'manual' })).status);
  }
  // Blocks of a hundredth of the limit round up to one ticket: exactly the limit is admitted.
  expect(statuses.filter((status) => status === 200)).toHaveLength(20);
  expect(statuses.slice(20)).toEqual([429, 429, 429, 429, 429]);
  expect((await fetch(`${base}/v1/missions?limit=1`, { headers: tenant })).status).toBe(429);
});

import { shell, usePlatform } from './platform';

// Four slots on this worker, but the fleet as a whole may run one mission at a time.
const context = usePlatform({ env: { FLEET_CONCURRENCY: '1', WORKER_CONCURRENCY: '4', SANDBOX_POOL_SIZE: '2' } });

test('the fleet-wide cap holds even when a worker has free slots', async () => {
  const { platform, env } = context;
  const missions = Array.from({ length: 3 }, (_, i) => ({ goal: `capped ${i}`, plan: [shell('sleep 0.5')] }));
  await platform.request('POST', '/v1/missions/batch', { missions });

  let mostRunning = 0;
  for (;;) {
    const running = Number((await env.db('missions').where({ status: 'running' }).count({ n: '*' }))[0]!.n);
    mostRunning = Math.max(mostRunning, running);
    if (Number((await env.db('missions').whereIn('status', ['queued', 'running']).count({ n: '*' }))[0]!.n) === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }

  expect(mostRunning).toBe(1);
  expect(await env.db('missions').distinct('status')).toEqual([{ status: 'succeeded' }]);
});

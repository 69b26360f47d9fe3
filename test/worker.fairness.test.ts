import { createTenant, shell, usePlatform } from './platform';

// One worker with four slots; each tenant may have two missions running across the fleet while another tenant
// has missions too.
const context = usePlatform({ env: { MAX_RUNNING_PER_TENANT: '2', WORKER_CONCURRENCY: '4', SANDBOX_POOL_SIZE: '4' } });

test("a tenant's big batch holds at most its share of the fleet, and another tenant's missions still run", async () => {
  const { platform, env } = context;
  const big = await createTenant(platform, 'big');
  const small = await createTenant(platform, 'small');
  // Shares hold while tenants contend (a tenant alone is not capped): the small one ran a mission just now.
  const first = (await (await platform.request('POST', '/v1/missions', { goal: 'small 0', plan: [shell('echo small')] }, small)).json()) as { id: string };
  await platform.waitForMission(first.id, 30_000, small);
  const bigBatch = Array.from({ length: 8 }, (_, i) => ({ goal: `big ${i}`, plan: [shell('sleep 1')] }));
  await platform.request('POST', '/v1/missions/batch', { missions: bigBatch }, big);
  const smallBatch = [{ goal: 'small 1', plan: [shell('echo small')] }, { goal: 'small 2', plan: [shell('echo small')] }];
  await platform.request('POST', '/v1/missions/batch', { missions: smallBatch }, small);
  const bigTenant = await env.db('tenants').where({ name: 'big' }).first('id');

  let mostRunning = 0;
  for (;;) {
    const running = Number((await env.db('missions').where({ tenant_id: bigTenant.id, status: 'running' }).count({ n: '*' }))[0]!.n);
    mostRunning = Math.max(mostRunning, running);
    const unfinished = Number((await env.db('missions').whereIn('status', ['queued', 'running']).count({ n: '*' }))[0]!.n);
    if (unfinished === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  expect(mostRunning).toBe(2);
  const finished = await env.db('missions').join('tenants', 'tenants.id', 'missions.tenant_id').select('tenants.name', 'missions.status', 'missions.finished_at');
  expect(finished.every((row: { status: string }) => row.status === 'succeeded')).toBe(true);
  const lastOf = (name: string) => Math.max(...finished.filter((row: { name: string }) => row.name === name).map((row: { finished_at: Date }) => row.finished_at.getTime()));
  // Eight one-second missions two at a time take about four seconds; the small tenant's are done long before.
  expect(lastOf('small')).toBeLessThan(lastOf('big') - 1_000);
});

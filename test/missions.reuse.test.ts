import { createTenant, shell, usePlatform, type MissionJson } from './platform';
import { waitFor } from './waitFor';

// A worker with SANDBOX_REUSE=tenant, through the API: a tenant's next mission runs in the reset sandbox of its
// last one, which shows it nothing of it; another tenant's never does.
const context = usePlatform({ env: { SANDBOX_REUSE: 'tenant', WORKER_CONCURRENCY: '1' } });

async function run(headers: Record<string, string>, command: string, extra: object = {}): Promise<MissionJson> {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'reuse', plan: [shell(command)], ...extra }, headers);
  expect(response.status).toBe(201);
  const mission = await context.platform.waitForMission(((await response.json()) as { id: string }).id, undefined, headers);
  expect(mission.status).toBe('succeeded');
  return mission;
}

const output = (mission: MissionJson) => mission.steps[0]!.observation!.stdout;
const parked = () => context.platform.worker!.pool.stats().parked;

test("a tenant's missions share a reset sandbox; another tenant's, or one asking for a fresh one, never do", async () => {
  const alice = await createTenant(context.platform, 'alice');
  const bob = await createTenant(context.platform, 'bob');
  // The container's hostname is its id: the same hostname is the same sandbox.
  const first = await run(alice, 'hostname; echo secret > notes.txt; sleep 1000 > /dev/null 2>&1 &');
  await waitFor(() => parked() === 1, 30_000, "alice's sandbox parked");

  const second = await run(alice, "hostname; ls -A; grep -l 'slee[p] 1000' /proc/[0-9]*/cmdline || echo no-sleep");
  expect(output(second)).toBe(`${output(first)}no-sleep\n`);
  await waitFor(() => parked() === 1, 30_000, "alice's sandbox parked again");

  const bobs = await run(bob, 'hostname');
  expect(output(bobs)).not.toBe(output(first));
  const fresh = await run(alice, 'hostname', { fresh_sandbox: true });
  expect(output(fresh)).not.toBe(output(first));
  const shown = (await (await context.platform.request('GET', `/v1/missions/${fresh.id}`, undefined, alice)).json()) as { fresh_sandbox?: boolean };
  expect(shown.fresh_sandbox).toBe(true);
});

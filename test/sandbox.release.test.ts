import { shell, usePlatform } from './platform';
import { sandboxesOf, watchSandboxes } from './harness';
import { waitFor } from './waitFor';

// What a mission leaves running in the background dies with its sandbox as the mission ends, not when the
// sandbox's removal comes round: the worker kills a released sandbox at once.
const context = usePlatform();

test('a mission that leaves `sleep 1000 &` behind: its sandbox stops within a second of the outcome', async () => {
  const { platform, env } = context;
  const events = await watchSandboxes(env.owner);
  try {
    const created = await platform.request('POST', '/v1/missions', { goal: 'leaves a process behind', plan: [shell('sleep 1000 > /dev/null 2>&1 & hostname')] });
    const { id } = (await created.json()) as { id: string };
    const mission = await platform.waitForMission(id);
    expect(mission.status).toBe('succeeded');
    const container = mission.steps[0]!.observation!.stdout.trim();
    const { finished_at } = (await (await platform.request('GET', `/v1/missions/${id}`)).json()) as { finished_at: string };

    await waitFor(() => events.at('die', container) !== undefined, 30_000, 'the sandbox stopped');
    // Both clocks are this host's: Postgres's for the outcome, Docker's for the stop.
    expect(events.at('die', container)! - new Date(finished_at).getTime()).toBeLessThan(1_000);
    await waitFor(async () => !(await sandboxesOf(env.owner)).some((one) => one.Id.startsWith(container)), 30_000, 'the sandbox removed');
  } finally {
    events.stop();
  }
});

import { shell, usePlatform } from './platform';
import { waitFor } from './waitFor';

// Environments: the repository's python and node images (built by the bootstrap FROM the base one), chosen by
// name; one no worker has an image of leaves its missions waiting, and saying so. Sandboxes are reused within a
// tenant here, so that reuse is seen to stay within one environment.
const context = usePlatform({ env: { SANDBOX_REUSE: 'tenant', SANDBOX_ENVIRONMENTS: JSON.stringify({ ghost: { image: 'mission-env-ghost:not-built' } }) } });

test('the python environment has pytest, numpy, pandas and git', async () => {
  const mission = await context.platform.run({
    goal: 'python tools',
    environment: { name: 'python' },
    plan: [shell('python3 -m pytest --version 2>&1 && python3 -c "import numpy, pandas; print(numpy.__name__, pandas.__name__)" && git --version | cut -d" " -f1-2')],
  });
  expect(mission.status).toBe('succeeded');
  expect(mission.steps[0]!.observation!.stdout).toMatch(/^pytest \d+\.\d+\.\d+\nnumpy pandas\ngit version\n$/);
});

test('the node environment has node, npm and git', async () => {
  const mission = await context.platform.run({ goal: 'node tools', environment: { name: 'node' }, plan: [shell('node -e "console.log(6 * 7)" && npm --version >/dev/null && git --version >/dev/null && echo ok')] });
  expect(mission.status).toBe('succeeded');
  expect(mission.steps[0]!.observation!.stdout).toBe('42\nok\n');
});

test("a sandbox is reused only within its environment: the base one after a python one has no pytest", async () => {
  await context.platform.run({ goal: 'python first', environment: { name: 'python' }, plan: [shell('true')] });
  const base = await context.platform.run({ goal: 'base next', plan: [shell('python3 -c "import pytest" 2>&1; echo exit=$?')] });
  expect(base.steps[0]!.observation!.stdout).toMatch(/No module named 'pytest'\nexit=1\n$/);
});

test('an unknown environment is a 400 naming the field and the environments there are', async () => {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'x', environment: { name: 'cobol' }, plan: [shell('true')] });
  expect(response.status).toBe(400);
  expect((await response.json()) as object).toMatchObject({ errors: [{ path: 'environment.name', message: 'no environment cobol: the environments are base, node, python, ghost' }] });
});

test('a mission of an environment no worker has waits, saying so; it is not failed', async () => {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'nowhere to run', environment: { name: 'ghost' }, plan: [shell('true')] });
  expect(response.status).toBe(201);
  const { id } = (await response.json()) as { id: string };
  let mission: { status: string; waiting_for?: string } = { status: 'unknown' };
  // The worker takes the job at once, and hands it back with the note.
  await waitFor(async () => {
    mission = (await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as typeof mission;
    return mission.waiting_for !== undefined;
  }, 20_000, 'the waiting note');
  expect(mission).toMatchObject({ status: 'queued', waiting_for: expect.stringMatching(/no image of the environment ghost/) });
  await context.platform.request('POST', `/v1/missions/${id}/cancel`);
});

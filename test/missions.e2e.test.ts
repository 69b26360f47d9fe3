import { pendingJobs, sandboxesOf } from './harness';
import { shell, usePlatform } from './platform';
import { waitFor } from './waitFor';


const context = usePlatform();

async function submitAndWait(plan: object[]) {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'test', plan });
  expect(response.status).toBe(201);
  const { id } = (await response.json()) as { id: string };
  return context.platform.waitForMission(id);
}

test('readiness counts the workers with a live heartbeat', async () => {
  const ready = (await (await context.platform.request('GET', '/readyz')).json()) as { status: string; workers_alive: number };

  expect(ready).toMatchObject({ status: 'ready', workers_alive: 1 });
});

test('a step runs under the gVisor kernel, not the host kernel', async () => {
  const mission = await submitAndWait([shell('dmesg | head -1')]);

  expect(mission.status).toBe('succeeded');
  expect(mission.steps[0]!.observation!.stdout).toContain('Starting gVisor');
});

test('steps run in order in one sandbox, and every step is in Postgres in order', async () => {
  const mission = await submitAndWait([
    shell('echo first > notes.txt'),
    shell('echo second >> notes.txt'),
    shell('cat notes.txt'),
  ]);

  expect(mission.status).toBe('succeeded');
  expect(mission.result).toEqual({ output: 'first\nsecond\n' });
  const rows = await context.env.db('steps').where({ mission_id: mission.id }).orderBy('seq').select('seq', 'input');
  expect(rows).toEqual([
    { seq: 1, input: { command: 'echo first > notes.txt' } },
    { seq: 2, input: { command: 'echo second >> notes.txt' } },
    { seq: 3, input: { command: 'cat notes.txt' } },
  ]);
  expect(mission.step_count).toBe(3);
});

test('a step exiting non-zero fails the mission with its exit code and output, and its sandbox is removed', async () => {
  const mission = await submitAndWait([shell('hostname'), shell('echo broken >&2; exit 3'), shell('echo never')]);

  expect(mission.status).toBe('failed');
  expect(mission.error).toMatchObject({ code: 'ERR_STEP_FAILED', step: 2, exit_code: 3 });
  expect(mission.error!.message).toBe('the step exited with code 3: broken');
  expect(mission.steps).toHaveLength(2);
  expect(mission.steps[1]!.observation).toMatchObject({ stderr: 'broken\n', exit_code: 3 });
  // A container's hostname is the start of its id.
  const hostname = mission.steps[0]!.observation!.stdout.trim();
  expect(hostname).toMatch(/^[0-9a-f]{12}$/);
  // The outcome is recorded first; the sandbox is removed right after.
  await waitFor(async () => (await sandboxesOf(context.env.owner)).every((container) => !container.Id.startsWith(hostname)));
  expect((await sandboxesOf(context.env.owner)).length).toBeGreaterThan(0); // the pool's warm sandboxes stay
});

test('file and python tools work together in one sandbox', async () => {
  const mission = await submitAndWait([
    { tool: 'write_file', input: { path: 'data/numbers.txt', content: '3\n4\n5\n' } },
    { tool: 'python', input: { code: "print(sum(int(n) for n in open('data/numbers.txt')))" } },
    { tool: 'read_file', input: { path: '/workspace/data/numbers.txt', max_bytes: 2 } },
    { tool: 'finish', input: { result: { answer: 12 } } },
  ]);

  expect(mission.status).toBe('succeeded');
  expect(mission.result).toEqual({ answer: 12 });
  expect(mission.steps.map((step) => step.observation)).toEqual([
    { path: 'data/numbers.txt', bytes: 6 },
    expect.objectContaining({ stdout: '12\n', exit_code: 0 }),
    { path: '/workspace/data/numbers.txt', content: '3\n', encoding: 'utf-8', size: 6, truncated: true },
    null,
  ]);
  // The finish is the trace's last step.
  expect(mission.steps.at(-1)).toMatchObject({ seq: 4, tool: 'finish', error: null });
  expect(mission.step_count).toBe(4);
});

test('a file tool that leaves /workspace fails the mission with a clear reason', async () => {
  const mission = await submitAndWait([{ tool: 'read_file', input: { path: '../../etc/passwd' } }]);

  expect(mission.status).toBe('failed');
  expect(mission.error).toMatchObject({ code: 'ERR_TOOL_REFUSED', step: 1 });
  expect(mission.error!.message).toBe('"../../etc/passwd" is outside /workspace: file tools work only inside it');
});

test('a step over its own timeout fails the mission as timed out', async () => {
  const mission = await submitAndWait([{ tool: 'shell', input: { command: 'sleep 1000', timeout_s: 1 } }]);

  expect(mission.status).toBe('failed');
  expect(mission.error).toMatchObject({ code: 'ERR_STEP_TIMEOUT', step: 1, exit_code: 124 });
});

test('the sim policy thinks before each action, then acts as the plan says', async () => {
  const created = await context.platform.request('POST', '/v1/missions', {
    goal: 'capacity model',
    policy: 'sim',
    sim_think_ms: 50,
    plan: [shell('echo thought about it'), { tool: 'finish', input: { result: 'modeled' } }],
  });
  const { id } = (await created.json()) as { id: string };

  const mission = await context.platform.waitForMission(id);

  expect(mission).toMatchObject({ status: 'succeeded', result: 'modeled', step_count: 2 });
  expect(mission.steps.map((step) => step.tool)).toEqual(['shell', 'finish']);
  expect(mission.steps[0]!.observation!.stdout).toBe('thought about it\n');
});

test('a mission cancelled while its policy thinks stops without running a step', async () => {
  const created = await context.platform.request('POST', '/v1/missions', { goal: 'slow thinker', policy: 'sim', sim_think_ms: 600_000, plan: [shell('echo never')] });
  const { id } = (await created.json()) as { id: string };
  await waitFor(async () => ((await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as { status: string }).status === 'running');

  await context.platform.request('POST', `/v1/missions/${id}/cancel`);

  // The worker lets go of it at once (no job stays active), rather than after its ten-minute thought.
  await waitFor(async () => (await pendingJobs(context.env.config)) === 0);
  expect(await context.platform.waitForMission(id)).toMatchObject({ status: 'cancelled', steps: [] });
});

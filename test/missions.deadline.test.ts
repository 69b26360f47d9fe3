import { sandboxesOf } from './harness';
import { shell, usePlatform, type MissionJson } from './platform';
import { waitFor } from './waitFor';

const context = usePlatform();

type Timed = MissionJson & { started_at: string; finished_at: string; deadline_s: number };

async function submit(body: object): Promise<string> {
  const created = await context.platform.request('POST', '/v1/missions', body);
  expect(created.status).toBe(201);
  return ((await created.json()) as { id: string }).id;
}

const get = async (id: string) => (await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as Timed & { status: string };
const runtimeMs = (mission: Timed) => Date.parse(mission.finished_at) - Date.parse(mission.started_at);

test('a mission past its deadline is ended as timed_out within a second: its running step is killed, its sandbox goes', async () => {
  const id = await submit({ goal: 'sleeps too long', deadline_s: 2, plan: [shell('echo started'), shell('sleep 60'), shell('echo never')] });

  const mission = (await context.platform.waitForMission(id, 20_000)) as Timed;

  expect(mission).toMatchObject({ status: 'timed_out', deadline_s: 2, error: { code: 'ERR_DEADLINE', message: 'the mission reached its deadline of 2 s' } });
  // The deadline (2 s) plus a second to kill the step and record it and the outcome, on a loaded machine too;
  // without the deadline the step would sleep 60 s.
  expect(runtimeMs(mission)).toBeGreaterThanOrEqual(2_000);
  expect(runtimeMs(mission)).toBeLessThan(3_000);
  expect(mission.steps.map((step) => step.error)).toEqual([null, 'the mission reached its deadline while this step ran']);
  expect(mission.steps[0]!.observation!.stdout).toBe('started\n');
  await waitFor(async () => (await sandboxesOf(context.env.owner)).every((container) => container.State === 'running'));
});

test('a mission that thinks past its deadline is ended as timed_out, without a step', async () => {
  const id = await submit({ goal: 'slow thinker', policy: 'sim', sim_think_ms: 60_000, deadline_s: 1, plan: [shell('echo never')] });

  const mission = (await context.platform.waitForMission(id, 20_000)) as Timed;

  expect(mission).toMatchObject({ status: 'timed_out', step_count: 0, error: { code: 'ERR_DEADLINE' } });
  expect(runtimeMs(mission)).toBeLessThan(2_000); // the deadline (1 s) and a second to record the outcome
});

test('time spent waiting for an approval does not count against the deadline', async () => {
  const id = await submit({
    goal: 'waits for a human',
    deadline_s: 2,
    require_approval: ['python'],
    plan: [shell('echo before'), { tool: 'python', input: { code: 'print("approved")' } }],
  });
  await waitFor(async () => (await get(id)).status === 'waiting_approval');
  // The wait outlasts the mission's whole deadline, by Postgres's clock, as the worker's deadline is set by.
  await waitFor(async () => (await context.env.db.raw('select now() > deadline_at + interval \'1 second\' as past from missions where id = ?', [id])).rows[0].past);

  expect((await context.platform.request('POST', `/v1/missions/${id}/approvals`, { decision: 'approve' })).status).toBe(200);

  const mission = await context.platform.waitForMission(id);
  expect(mission.status).toBe('succeeded');
  expect(mission.steps.map((step) => step.observation?.stdout)).toEqual(['before\n', 'approved\n']);
});

test('a mission that sets no deadline gets MISSION_DEADLINE_S', async () => {
  const id = await submit({ goal: 'default deadline', plan: [shell('true')] });

  expect((await get(id)).deadline_s).toBe(3_600);
});

import { pendingJobs } from './harness';
import { shell, usePlatform, type MissionJson } from './platform';
import { waitFor } from './waitFor';

const context = usePlatform();
const plan = [shell('echo before'), { tool: 'python', input: { code: 'print("risky")' } }, shell('echo after')];

async function mission(id: string): Promise<MissionJson & { approval?: { step: number; tool: string; input: unknown } }> {
  return (await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as MissionJson & { approval?: { step: number; tool: string; input: unknown } };
}

async function submitAndWaitForApproval(): Promise<string> {
  const created = await context.platform.request('POST', '/v1/missions', { goal: 'needs a human', plan, require_approval: ['python'] });
  const { id } = (await created.json()) as { id: string };
  await waitFor(async () => (await mission(id)).status === 'waiting_approval');
  return id;
}

test('a mission stops before a tool that needs approval, holding no worker slot, and continues once approved', async () => {
  const id = await submitAndWaitForApproval();

  const waiting = await mission(id);
  expect(waiting.steps.map((step) => step.observation?.stdout)).toEqual(['before\n']);
  expect(waiting.approval).toEqual({ step: 2, tool: 'python', input: { code: 'print("risky")' }, thought: 'step 2 of 3' });
  await waitFor(async () => (await pendingJobs(context.env.config)) === 0);

  const approved = await context.platform.request('POST', `/v1/missions/${id}/approvals`, { decision: 'approve' });

  expect(approved.status).toBe(200);
  const done = await context.platform.waitForMission(id);
  expect(done.status).toBe('succeeded');
  expect(done.steps.map((step) => [step.tool, step.observation?.stdout])).toEqual([
    ['shell', 'before\n'],
    ['python', 'risky\n'],
    ['shell', 'after\n'],
  ]);
  expect((await context.platform.request('POST', `/v1/missions/${id}/approvals`, { decision: 'approve' })).status).toBe(409);
});

test('a rejected step is recorded with the reason and fails a scripted mission', async () => {
  const id = await submitAndWaitForApproval();

  await context.platform.request('POST', `/v1/missions/${id}/approvals`, { decision: 'reject', reason: 'not on prod' });

  const done = await context.platform.waitForMission(id);
  expect(done.status).toBe('failed');
  expect(done.error).toMatchObject({ code: 'ERR_REJECTED', step: 2, message: 'rejected by a human: not on prod' });
  expect(done.steps.map((step) => [step.tool, step.error])).toEqual([
    ['shell', null],
    ['python', 'rejected by a human: not on prod'],
  ]);
});

test('a decision that is not approve or reject is refused and changes nothing', async () => {
  const id = await submitAndWaitForApproval();

  const response = await context.platform.request('POST', `/v1/missions/${id}/approvals`, { decision: 'maybe' });

  expect(response.status).toBe(400);
  expect((await mission(id)).status).toBe('waiting_approval');
  await context.platform.request('POST', `/v1/missions/${id}/cancel`);
});

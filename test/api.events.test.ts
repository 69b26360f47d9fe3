import { startWorker } from '../apps/worker';
import { pendingJobs, testLogger } from './harness';
import { shell, usePlatform, type MissionJson } from './platform';
import { waitFor } from './waitFor';

const context = usePlatform();

test('SSE streams status changes and steps in order and closes when the mission ends', async () => {
  const { platform } = context;
  const created = await platform.request('POST', '/v1/missions', { goal: 'stream', plan: [shell('echo 1'), shell('echo 2'), shell('echo 3')] });
  const { id } = (await created.json()) as { id: string };

  const events = await platform.events(id);

  expect(events.map((event) => [event.event, event.data.status ?? event.data.seq])).toEqual([
    ['status', 'running'],
    ['step', 1],
    ['step', 2],
    ['step', 3],
    ['status', 'succeeded'],
  ]);
  expect(events[2]!.data).toMatchObject({ tool: 'shell', observation: { stdout: '2\n' } });
  const ids = events.map((event) => Number(event.id));
  expect([...ids].sort((a, b) => a - b)).toEqual(ids);
});

test('a client that reconnects with Last-Event-ID gets exactly the events after it', async () => {
  const { platform } = context;
  const created = await platform.request('POST', '/v1/missions', { goal: 'resume', plan: [shell('echo a'), shell('echo b')] });
  const { id } = (await created.json()) as { id: string };
  const all = await platform.events(id);

  for (let seen = 0; seen < all.length; seen++) {
    const resumed = await platform.events(id, all[seen]!.id);
    expect(resumed).toEqual(all.slice(seen + 1));
  }
});

test('a stream opened before the mission runs follows it live', async () => {
  const { platform } = context;
  const created = await platform.request('POST', '/v1/missions', { goal: 'live', plan: [shell('sleep 0.3; echo late')] });
  const { id } = (await created.json()) as { id: string };

  const events = await platform.events(id);

  expect(events.at(-1)!.data.status).toBe('succeeded');
  expect(events.find((event) => event.event === 'step')!.data).toMatchObject({ observation: { stdout: 'late\n' } });
});

test('cancelling a running mission kills its step at once and the mission stays cancelled', async () => {
  const { platform } = context;
  const created = await platform.request('POST', '/v1/missions', { goal: 'long', plan: [shell('echo ready'), shell('sleep 60'), shell('echo never')] });
  const { id } = (await created.json()) as { id: string };
  // Step 2 (the sleep) is claimed just before it starts.
  await waitFor(async () => (await context.env.db('missions').where({ id }).first('step_claimed')).step_claimed === 2);

  const cancel = await platform.request('POST', `/v1/missions/${id}/cancel`);

  expect(cancel.status).toBe(200);
  expect(((await cancel.json()) as { status: string }).status).toBe('cancelled');
  expect((await platform.events(id)).at(-1)!.data.status).toBe('cancelled');
  // The killed step is recorded well before its 60 s sleep would have ended, and nothing runs after it: once
  // its job is done, no step of it can start.
  await waitFor(async () => (await mission(id)).steps.length === 2, 30_000);
  const after = await mission(id);
  expect(after.status).toBe('cancelled');
  expect(after.steps[1]!.error).toBe('the mission was cancelled while this step ran');
  await waitFor(async () => (await pendingJobs(context.env.config)) === 0);
  expect((await mission(id)).steps).toHaveLength(2);
  expect((await platform.request('POST', `/v1/missions/${id}/cancel`)).status).toBe(409);
});

test('a stream resumed past the last event stays open while the mission runs and closes when it ends', async () => {
  const { platform } = context;
  const created = await platform.request('POST', '/v1/missions', { goal: 'resumed far ahead', plan: [shell('sleep 0.5; echo late')] });
  const { id } = (await created.json()) as { id: string };
  await waitFor(async () => (await mission(id)).status === 'running');

  const events = await platform.events(id, '999999999999');

  expect(events).toEqual([]);
  expect((await mission(id)).status).toBe('succeeded');
});

test('a mission cancelled while queued never runs', async () => {
  const { platform, env } = context;
  await platform.worker!.close(); // nothing picks missions up for now
  const created = await platform.request('POST', '/v1/missions', { goal: 'never', plan: [shell('echo no')] });
  const { id } = (await created.json()) as { id: string };
  expect(((await (await platform.request('POST', `/v1/missions/${id}/cancel`)).json()) as { status: string }).status).toBe('cancelled');

  const worker = await startWorker(env.config, testLogger(), `${env.owner}-late`);
  try {
    await waitFor(async () => (await pendingJobs(env.config)) === 0);
    expect(await mission(id)).toMatchObject({ status: 'cancelled', steps: [] });
  } finally {
    await worker.close();
  }
});

async function mission(id: string): Promise<MissionJson> {
  return (await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as MissionJson;
}

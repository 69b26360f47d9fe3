import { shell, usePlatform } from './platform';

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
  const created = await platform.request('POST', '/v1/missions', { goal: 'long', plan: [shell('echo started; sleep 60'), shell('echo never')] });
  const { id } = (await created.json()) as { id: string };
  await waitForStatus(id, 'running');
  await new Promise((resolve) => setTimeout(resolve, 300)); // the sleep is under way

  const cancel = await platform.request('POST', `/v1/missions/${id}/cancel`);

  expect(cancel.status).toBe(200);
  expect(((await cancel.json()) as { status: string }).status).toBe('cancelled');
  const events = await platform.events(id);
  expect(events.at(-1)!.data.status).toBe('cancelled');
  const mission = await platform.waitForMission(id);
  expect(mission.status).toBe('cancelled');
  // The killed step is recorded once the worker notices, within a moment, not after the 60 s sleep.
  await waitFor(async () => (await platform.waitForMission(id)).steps.length === 1, 10_000);
  expect((await platform.waitForMission(id)).steps[0]!.error).toBe('the mission was cancelled while this step ran');
  expect((await platform.request('POST', `/v1/missions/${id}/cancel`)).status).toBe(409);
});

async function waitForStatus(id: string, status: string): Promise<void> {
  await waitFor(async () => ((await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as { status: string }).status === status);
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

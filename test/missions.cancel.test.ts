import { pendingJobs } from './harness';
import { parseSse, shell, usePlatform, type SseEvent } from './platform';
import { waitFor } from './waitFor';

// Cancels at random moments against real sandboxed missions, each followed live on its event stream.
const context = usePlatform({ env: { WORKER_CONCURRENCY: '8', SANDBOX_POOL_SIZE: '4' } });

const MISSIONS = 40;
const STEPS = 30;

interface Row {
  status: string;
  finished_at: Date;
}

/** Follows a mission's event stream live, from before it runs, until the server closes it. */
async function follow(id: string): Promise<SseEvent[]> {
  const response = await context.platform.request('GET', `/v1/missions/${id}/events`);
  return parseSse(await response.text());
}

test('a cancel stops a mission for good: no step starts after it, and every step reaches the live stream before the end', async () => {
  const { platform, env } = context;
  const plan = Array.from({ length: STEPS }, (_, k) => shell(`echo ${k + 1}; sleep 0.1`));
  const response = await platform.request('POST', '/v1/missions/batch', { missions: Array.from({ length: MISSIONS }, (_, i) => ({ goal: `cancel me ${i}`, plan })) });
  const ids = ((await response.json()) as { items: { id: string }[] }).items.map((item) => item.id);

  const results = await Promise.all(
    ids.map(async (id) => {
      const stream = follow(id);
      await waitFor(async () => ((await env.db('missions').where({ id }).first('status')) as Row).status !== 'queued', 100_000);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 1_500));
      const cancel = await platform.request('POST', `/v1/missions/${id}/cancel`);
      return { id, cancelStatus: cancel.status, events: await stream };
    }),
  );

  for (const { id, cancelStatus, events } of results) {
    expect([id, cancelStatus]).toEqual([id, 200]);
    const row = (await env.db('missions').where({ id }).first('status', 'finished_at', 'step_count')) as Row & { step_count: number };
    expect(row.status).toBe('cancelled');
    const steps = (await env.db('steps').where({ mission_id: id }).orderBy('seq').select('seq', 'started_at')) as { seq: number; started_at: Date }[];
    expect(steps.length).toBeLessThan(STEPS);
    for (const step of steps) expect(step.started_at.getTime()).toBeLessThanOrEqual(row.finished_at.getTime());
    // The live stream carried every recorded step, then the end.
    const streamed = events.filter((event) => event.event === 'step').map((event) => event.data.seq);
    expect(streamed).toEqual(steps.map((step) => step.seq));
    expect(events.at(-1)!.data.status).toBe('cancelled');
  }
  // Nothing starts later either: once every job is done, no step can start.
  const counts = await env.db('steps').whereIn('mission_id', ids).count({ n: '*' });
  await waitFor(async () => (await pendingJobs(env.config)) === 0);
  expect(await env.db('steps').whereIn('mission_id', ids).count({ n: '*' })).toEqual(counts);
});

test('a cancel that does not take effect is a 409: a second cancel, or one after the mission ended', async () => {
  const { platform } = context;
  const created = await platform.request('POST', '/v1/missions', { goal: 'twice', plan: [shell('sleep 30')] });
  const { id } = (await created.json()) as { id: string };

  const answers = await Promise.all([platform.request('POST', `/v1/missions/${id}/cancel`), platform.request('POST', `/v1/missions/${id}/cancel`)]);

  expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
  const done = await platform.request('POST', '/v1/missions', { goal: 'done', plan: [shell('true')] });
  const doneId = ((await done.json()) as { id: string }).id;
  await platform.waitForMission(doneId);
  const late = await platform.request('POST', `/v1/missions/${doneId}/cancel`);
  expect(late.status).toBe(409);
  expect(((await late.json()) as { detail: string }).detail).toBe('it is succeeded');
});

import { MissionStore } from '../store/missionStore';
import { StepWriter } from '../store/stepWriter';
import type { Step } from '../jobs/mission';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { createTestEnv, type TestEnv } from './harness';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env?.cleanup());

const step = (missionId: string, seq: number): Step => ({
  mission_id: missionId,
  seq,
  thought: `step ${seq}`,
  tool: 'shell',
  input: { command: `echo ${seq}` },
  observation: { stdout: `${seq}\n` },
  exit_code: 0,
  error: null,
  started_at: new Date(),
  finished_at: new Date(),
  usage: null,
});

async function newMissions(count: number): Promise<string[]> {
  const spec = { goal: 'writer', policy: 'scripted' as const, plan: [{ tool: 'shell' as const, input: { command: 'true' } }], max_steps: 100, deadline_s: 3_600, metadata: {} };
  const missions = await new MissionStore(env.db).create(Array.from({ length: count }, () => ({ tenant_id: ADMIN_TENANT_ID, spec })));
  return missions.map((mission) => mission.id);
}

test('steps appended together are committed in a few statements, each with its count and its event', async () => {
  const writer = new StepWriter(env.db);
  const groups: number[] = [];
  writer.on('flushed', (rows) => groups.push(rows));
  const ids = await newMissions(50);

  await Promise.all(ids.flatMap((id) => [1, 2, 3].map((seq) => writer.append(step(id, seq)))));

  // Appended in one turn: split between the two groups written at once.
  expect(groups).toEqual([75, 75]);
  expect(await env.db('steps').whereIn('mission_id', ids).count({ n: '*' })).toEqual([{ n: '150' }]);
  const counts = await env.db('missions').whereIn('id', ids).distinct('step_count');
  expect(counts).toEqual([{ step_count: 3 }]);
  const events = await env.db('mission_events').where({ mission_id: ids[0] }).orderBy('id').select('data');
  expect(events.map((event: { data: { seq: number } }) => event.data.seq)).toEqual([1, 2, 3]);
});

test('a step recorded twice fails alone; the rest of its group is committed', async () => {
  const writer = new StepWriter(env.db);
  const [first, second] = await newMissions(2);
  await writer.append(step(first!, 1));

  const results = await Promise.allSettled([writer.append(step(first!, 1)), writer.append(step(second!, 1)), writer.append(step(second!, 2))]);

  expect(results.map((result) => result.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
  expect(await env.db('steps').where({ mission_id: second }).count({ n: '*' })).toEqual([{ n: '2' }]);
  expect(await env.db('steps').where({ mission_id: first }).count({ n: '*' })).toEqual([{ n: '1' }]);
});

test('a step holding what Postgres cannot store (a model wrote NUL and an unpaired surrogate) is stored, and so is the rest of its group', async () => {
  const writer = new StepWriter(env.db);
  const groups: number[] = [];
  writer.on('flushed', (rows) => groups.push(rows));
  const [poisoned, other, ...more] = await newMissions(4);
  const bad: Step = { ...step(poisoned!, 1), thought: 'null\u0000here', input: { command: 'echo \ud800', 'key\u0000': 'literal \\u0000 stays' } };

  // Four at once: two groups, the bad step's with `other`.
  await Promise.all([writer.append(bad), writer.append(step(other!, 1)), ...more.map((id) => writer.append(step(id, 1)))]);

  expect(groups).toEqual([2, 2]);
  const row = await env.db('steps').where({ mission_id: poisoned }).first('thought', 'input');
  expect(row).toEqual({ thought: 'null\uFFFDhere', input: { command: 'echo \uFFFD', 'key\uFFFD': 'literal \\u0000 stays' } });
  expect(await env.db('steps').where({ mission_id: other }).count({ n: '*' })).toEqual([{ n: '1' }]);
});

import { ConsoleReader, REPORT_TRACE_BYTES, TRACE_PAGE_STEPS } from '../console/reader';
import { BatchStore } from '../store/batches/batchStore';
import { missionSpecSchema } from '../jobs/mission';
import { MissionStore } from '../store/missionStore';
import { StepWriter } from '../store/stepWriter';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { createTestEnv, type TestEnv } from './harness';

// The console's pages cost a fixed number of queries whatever they list: a list page is one query at any page
// size, a mission's trace four (three and the snapshot's start), a batch report's traces three at any batch size.
let env: TestEnv;
let reader: ConsoleReader;
let store: MissionStore;
let writer: StepWriter;
const spec = missionSpecSchema({ defaultDeadlineS: 60, maxDeadlineS: 60 }).parse({ goal: 'listed', plan: [{ tool: 'shell', input: { command: 'true' } }] });
const stepOf = (missionId: string, seq: number, stdout = 'x') =>
  ({ mission_id: missionId, seq, thought: null, tool: 'shell', input: {}, observation: { stdout }, exit_code: 0, error: null, started_at: new Date(), finished_at: new Date(), usage: null });
let batchId: string;
let missionId: string;

beforeAll(async () => {
  env = await createTestEnv();
  reader = new ConsoleReader(env.db);
  store = new MissionStore(env.db);
  const created = await new BatchStore(env.db, store).create(ADMIN_TENANT_ID, Array.from({ length: 120 }, () => spec), 120);
  batchId = created.batchId;
  missionId = created.missions[0]!.id;
  writer = new StepWriter(env.db);
  await Promise.all(created.missions.slice(0, 30).flatMap((mission) => [1, 2, 3].map((seq) => writer.append(stepOf(mission.id, seq)))));
});
afterAll(() => env.cleanup());

async function queriesOf(work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const note = (query: { sql: string }) => void (/^(begin|commit|rollback|set transaction)/i.test(query.sql.trim()) || seen.push(query.sql));
  env.db.on('query', note);
  try {
    await work();
  } finally {
    env.db.off('query', note);
  }
  return seen;
}

test('a page of the missions list is one query, at any page size and for the admin too', async () => {
  for (const limit of [5, 50, 500]) {
    let rows: unknown[] = [];
    const tenant = await queriesOf(async () => (rows = await reader.missions({ tenantId: ADMIN_TENANT_ID }, { limit })));
    expect([tenant.length, rows.length]).toEqual([1, Math.min(limit, 120)]);
    expect(await queriesOf(() => reader.missions('everyone', { limit, batchId, status: 'queued' }))).toHaveLength(1);
  }
});

test("a mission's trace is one snapshot of four queries, and a batch's traces three at any size", async () => {
  const trace = await queriesOf(() => reader.trace({ tenantId: ADMIN_TENANT_ID }, missionId));
  expect(trace).toHaveLength(4);
  let traces: { steps: unknown[] }[] = [];
  expect(await queriesOf(async () => (traces = await reader.batchTraces(batchId)))).toHaveLength(3);
  expect(traces).toHaveLength(120);
  expect(traces.reduce((sum, one) => sum + one.steps.length, 0)).toBe(90);
  expect(await reader.trace({ tenantId: 'ffffffff-ffff-7fff-bfff-ffffffffffff' }, missionId)).toBeUndefined();
});

test("a mission's trace is read a page of steps at a time, with where the pages before and after it start", async () => {
  const [mission] = (await new BatchStore(env.db, store).create(ADMIN_TENANT_ID, [spec], 1)).missions;
  await Promise.all(Array.from({ length: 250 }, (_, at) => writer.append(stepOf(mission!.id, at + 1))));
  const pages = [];
  for (const from of [0, 101, 201]) pages.push(await reader.trace('everyone', mission!.id, from));
  expect(pages.map((page) => [page!.steps[0]!.seq, page!.steps.at(-1)!.seq, page!.earlierFrom, page!.laterFrom])).toEqual([
    [1, TRACE_PAGE_STEPS, undefined, 101],
    [101, 200, 1, 201],
    [201, 250, 101, undefined],
  ]);
  expect(await queriesOf(() => reader.trace('everyone', mission!.id, 101))).toHaveLength(5);
});

test("a batch report carries the traces of its first missions up to REPORT_TRACE_BYTES stored, and lists the rest without steps", async () => {
  const created = await new BatchStore(env.db, store).create(ADMIN_TENANT_ID, Array.from({ length: 12 }, () => spec), 12);
  // 3 MiB of output a mission, stored twice (the step and its event): about 6 MiB each, 72 MiB in all.
  const output = 'y'.repeat(3 * 1024 * 1024);
  for (const mission of created.missions) await writer.append(stepOf(mission.id, 1, output));
  const stored = await env.db('missions').where({ batch_id: created.batchId }).orderBy('item').pluck('stored_bytes');
  let total = 0;
  const fit = stored.map(Number).filter((bytes) => (total += bytes) <= REPORT_TRACE_BYTES).length;
  expect(fit).toBeGreaterThan(0);
  expect(fit).toBeLessThan(12);
  const traces = await reader.batchTraces(created.batchId);
  expect(traces.map((trace) => [trace.steps.length, trace.stepsOmitted])).toEqual(created.missions.map((_, at) => (at < fit ? [1, false] : [0, true])));
});

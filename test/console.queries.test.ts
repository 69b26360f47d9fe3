import { ConsoleReader } from '../console/reader';
import { BatchStore } from '../jobs/batches/batchStore';
import { missionSpecSchema } from '../jobs/mission';
import { MissionStore } from '../jobs/missionStore';
import { StepWriter } from '../jobs/stepWriter';
import { ADMIN_TENANT_ID } from '../migrations/002_tenants_batches_events';
import { createTestEnv, type TestEnv } from './harness';

// The console's pages cost a fixed number of queries whatever they list: a list page is one query at any page
// size, a mission's trace four (three and the snapshot's start), a batch report's traces three at any batch size.
let env: TestEnv;
let reader: ConsoleReader;
let batchId: string;
let missionId: string;

beforeAll(async () => {
  env = await createTestEnv();
  reader = new ConsoleReader(env.db);
  const store = new MissionStore(env.db);
  const spec = missionSpecSchema({ defaultDeadlineS: 60, maxDeadlineS: 60 }).parse({ goal: 'listed', plan: [{ tool: 'shell', input: { command: 'true' } }] });
  const created = await new BatchStore(env.db, store).create(ADMIN_TENANT_ID, Array.from({ length: 120 }, () => spec), 120);
  batchId = created.batchId;
  missionId = created.missions[0]!.id;
  const writer = new StepWriter(env.db);
  const at = new Date();
  await Promise.all(
    created.missions.slice(0, 30).flatMap((mission) =>
      [1, 2, 3].map((seq) =>
        writer.append({ mission_id: mission.id, seq, thought: null, tool: 'shell', input: {}, observation: { stdout: 'x' }, exit_code: 0, error: null, started_at: at, finished_at: at, usage: null }),
      ),
    ),
  );
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

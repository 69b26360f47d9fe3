import { startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { createTenant, shell, usePlatform, type MissionJson } from './platform';

// A mission that reads a 1 MiB file again and again stores it twice per step (the step, its event): it ends at
// its byte cap (MISSION_STORED_MB, 32 MiB by default) instead of filling Postgres, and a read of it stays small.
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
// Requests of megabytes are millions of tokens: the provider's token limit, and the history's bound in tokens
// (which would cut them), are not what is tested here.
const context = usePlatform({ env: () => ({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'm', LLM_TPM: '1000000000', LLM_HISTORY_TOKENS: '100000000' }) });

test('a mission reading 1 MiB a thousand times ends at its byte cap; its read is one page; the tenant sees its storage', async () => {
  const tenant = await createTenant(context.platform, 'hoarder');
  const plan = [shell("head -c 1048576 /dev/zero | tr '\\0' x > big.txt"), ...Array.from({ length: 999 }, () => ({ tool: 'read_file', input: { path: 'big.txt', max_bytes: 1_048_576 } }))];
  const created = await context.platform.request('POST', '/v1/missions', { goal: 'hoard', plan, max_steps: 1_000 }, tenant);
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };

  const mission = (await context.platform.waitForMission(id, 300_000, tenant)) as MissionJson & { steps_next_cursor: string | null };
  expect(mission).toMatchObject({ status: 'failed', error: { code: 'ERR_STORAGE_CAP' } });
  // Each read stores its MiB twice: the cap of 32 MiB is passed at the 17th step, not the 1,000th.
  expect(mission.step_count).toBeGreaterThan(10);
  expect(mission.step_count).toBeLessThan(30);
  expect(mission.steps).toHaveLength(mission.step_count);

  const { id: tenantId } = (await context.env.db('tenants').where({ name: 'hoarder' }).first('id')) as { id: string };
  const storage = (await (await context.platform.request('GET', `/v1/admin/tenants/${tenantId}/storage`)).json()) as { missions: number; stored_bytes: number };
  expect(storage.missions).toBe(1);
  expect(storage.stored_bytes).toBeGreaterThan(32 << 20);
  expect(storage.stored_bytes).toBeLessThan(40 << 20);
});

test('a mission shows the first 100 of its steps, and a cursor to the rest', async () => {
  const plan = Array.from({ length: 150 }, (_, i) => shell(`echo ${i}`));
  const created = await context.platform.request('POST', '/v1/missions', { goal: 'long', plan, max_steps: 150 });
  const { id } = (await created.json()) as { id: string };
  await context.platform.waitForMission(id, 300_000);

  const mission = (await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as MissionJson & { steps_next_cursor: string };
  expect(mission.step_count).toBe(150);
  expect(mission.steps.map((step) => step.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  const rest = (await (await context.platform.request('GET', `/v1/missions/${id}/steps?cursor=${mission.steps_next_cursor}`)).json()) as { data: { seq: number }[] };
  expect(rest.data.map((step) => step.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 101));
});

test("a recorded model mission counts its calls' bytes too: each request carries the reads before it, and the cap comes sooner", async () => {
  llm.reply(toolCall('shell', { command: "head -c 1048576 /dev/zero | tr '\\0' x > big.txt" }));
  llm.answerWith(() => toolCall('read_file', { path: 'big.txt', max_bytes: 1_048_576 }));
  const created = await context.platform.request('POST', '/v1/missions', { goal: 'hoard through the model', policy: 'openai', llm: { record: true }, max_steps: 100 });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };

  const mission = await context.platform.waitForMission(id, 300_000);
  expect(mission).toMatchObject({ status: 'failed', error: { code: 'ERR_STORAGE_CAP', message: expect.stringMatching(/recorded model calls/) } });
  // Steps alone pass 32 MiB at the 17th; with the growing requests recorded, within the first ten.
  expect(mission.step_count).toBeLessThan(10);
  const recorded = (await context.env.db('llm_calls').where({ mission_id: id }).first(context.env.db.raw('sum(octet_length(request::text) + octet_length(response::text)) as bytes'))) as { bytes: string };
  const { stored_bytes } = (await context.env.db('missions').where({ id }).first('stored_bytes')) as { stored_bytes: string };
  expect(Number(recorded.bytes)).toBeGreaterThan(10 << 20);
  expect(Number(stored_bytes)).toBeGreaterThan(Number(recorded.bytes));
});

import { startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { createTenant, usePlatform } from './platform';
import { waitFor } from './waitFor';

// Taking a tenant's permission to use its own model URL away holds everywhere: a batch retry and a new submission
// of the same spec are refused, and a mission already running makes no further call to that URL.
let own: FakeLlm;
beforeAll(async () => {
  own = await startFakeLlm();
});
afterAll(() => own?.close());
const context = usePlatform({ env: () => ({ LLM_TENANT_URL_ALLOWLIST: new URL(own.baseUrl).origin }) });

let tenant: Record<string, string>;
let tenantId: string;
const allow = async (allowed: boolean) =>
  expect((await context.platform.request('PATCH', `/v1/admin/tenants/${tenantId}`, { allow_llm_base_url: allowed })).status).toBe(200);
const mission = (steps: number) => ({ goal: 'use my model', policy: 'openai', llm: { base_url: own.baseUrl, model: 'own' }, max_steps: steps });
beforeAll(async () => {
  tenant = await createTenant(context.platform, 'own-url');
  tenantId = ((await context.env.db('tenants').where({ name: 'own-url' }).first('id')) as { id: string }).id;
});

test('with the permission taken away, a batch retry and a run again of the same spec are refused, and the URL is not called', async () => {
  await allow(true);
  own.reply(toolCall('shell', { command: 'exit 3' }));
  const batch = (await (await context.platform.request('POST', '/v1/missions/batch', { missions: [mission(1)] }, tenant)).json()) as { batch_id: string; items: { id: string }[] };
  expect((await context.platform.waitForMission(batch.items[0]!.id, 60_000, tenant)).status).toBe('failed');
  const calls = own.requests.length;

  await allow(false);
  const retried = await context.platform.request('POST', `/v1/batches/${batch.batch_id}/retry`, {}, tenant);
  expect(retried.status).toBe(400);
  expect(JSON.stringify(await retried.json())).toMatch(/may not send model calls to a URL of its own/);
  const again = await context.platform.request('POST', '/v1/missions', mission(1), tenant);
  expect(again.status).toBe(400);
  const summary = (await (await context.platform.request('GET', `/v1/batches/${batch.batch_id}`, undefined, tenant)).json()) as { counts: Record<string, number> };
  expect(summary.counts).toMatchObject({ failed: 1 });
  expect(own.requests.length).toBe(calls);
});

test('a mission accepted while allowed makes no further call once the permission is taken away', async () => {
  await allow(true);
  // Its first step runs long enough for the permission to go while it runs.
  own.reply(toolCall('shell', { command: 'sleep 3; echo slept' }), toolCall('shell', { command: 'echo second' }));
  const before = own.requests.length;
  const created = (await (await context.platform.request('POST', '/v1/missions', mission(5), tenant)).json()) as { id: string };
  await waitFor(() => own.requests.length === before + 1, 60_000, 'the first model call');
  await allow(false);

  const ended = await context.platform.waitForMission(created.id, 60_000, tenant);
  expect(ended.status).toBe('failed');
  expect(ended.error!.message).toMatch(/may no longer send model calls to a URL of its own/);
  expect(own.requests.length).toBe(before + 1);
  // The model name was the tenant's to choose: it makes no metric series of its own.
  const metrics = await context.platform.worker!.metrics.registry.metrics();
  expect(metrics).toMatch(/llm_tokens_total\{endpoint="tenant-url",model="tenant-url"/);
  expect(metrics).not.toMatch(/model="own"/);
});

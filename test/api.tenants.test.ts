import { createTenant, shell, usePlatform } from './platform';

// API only: missions stay queued, which is all tenant isolation needs.
const context = usePlatform({ worker: false });

test('a tenant sees only its own missions, steps, events and batches: 404 for the others', async () => {
  const { platform } = context;
  const alice = await createTenant(platform, 'alice');
  const bob = await createTenant(platform, 'bob');
  const created = await platform.request('POST', '/v1/missions', { goal: 'alice only', plan: [shell('echo a')] }, alice);
  const { id } = (await created.json()) as { id: string };
  const batch = await platform.request('POST', '/v1/missions/batch', { missions: [{ goal: 'b', plan: [shell('echo b')] }] }, alice);
  const { batch_id } = (await batch.json()) as { batch_id: string };

  for (const [method, path] of [
    ['GET', `/v1/missions/${id}`],
    ['GET', `/v1/missions/${id}/steps`],
    ['GET', `/v1/missions/${id}/events`],
    ['POST', `/v1/missions/${id}/cancel`],
    ['GET', `/v1/batches/${batch_id}`],
  ] as const) {
    expect([path, (await platform.request(method, path, undefined, bob)).status]).toEqual([path, 404]);
  }
  expect((await platform.request('GET', `/v1/missions/${id}`, undefined, alice)).status).toBe(200);
  expect((await platform.request('GET', `/v1/batches/${batch_id}`, undefined, alice)).status).toBe(200);
  const bobsList = (await (await platform.request('GET', '/v1/missions', undefined, bob)).json()) as { data: unknown[] };
  expect(bobsList.data).toEqual([]);
  const alicesList = (await (await platform.request('GET', '/v1/missions', undefined, alice)).json()) as { data: { id: string }[] };
  expect(alicesList.data.map((mission) => mission.id)).toContain(id);
});

test('only the admin key creates tenants; a name is taken once; keys are stored hashed', async () => {
  const { platform, env } = context;
  const carol = await createTenant(platform, 'carol');

  expect((await platform.request('POST', '/v1/admin/tenants', { name: 'mallory' }, carol)).status).toBe(403);
  expect((await platform.request('POST', '/v1/admin/tenants', { name: 'carol' })).status).toBe(409);
  expect((await platform.request('POST', '/v1/admin/tenants', { name: 'bad name!' })).status).toBe(400);
  const key = carol.authorization!.slice('Bearer '.length);
  const stored = await env.db('api_keys').select('key_hash', 'key_prefix');
  expect(stored.some((row: { key_hash: Buffer }) => row.key_hash.toString('latin1').includes(key))).toBe(false);
  expect(stored.map((row: { key_prefix: string }) => row.key_prefix)).toContain(key.slice(0, 8));
});

test('a tenant over its rate limit gets 429 with Retry-After', async () => {
  const { platform } = context;
  const dave = await createTenant(platform, 'dave', 3);

  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await platform.request('GET', '/v1/missions', undefined, dave)).status);

  expect(statuses).toEqual([200, 200, 200, 429]);
  const limited = await platform.request('GET', '/v1/missions', undefined, dave);
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(limited.headers.get('content-type')).toMatch(/^application\/problem\+json/);
});

test("the admin changes a tenant's settings; nobody else can, and an unknown tenant is a 404", async () => {
  const { platform, env } = context;
  const erin = await createTenant(platform, 'erin');
  const { id } = (await env.db('tenants').where({ name: 'erin' }).first('id')) as { id: string };

  const changed = await platform.request('PATCH', `/v1/admin/tenants/${id}`, { allow_llm_base_url: true, rate_limit_per_minute: 120 });

  expect(changed.status).toBe(200);
  expect(await changed.json()).toEqual({ id, name: 'erin', rate_limit_per_minute: 120, allow_llm_base_url: true });
  expect((await platform.request('PATCH', `/v1/admin/tenants/${id}`, { allow_llm_base_url: false }, erin)).status).toBe(403);
  expect((await platform.request('PATCH', '/v1/admin/tenants/00000000-0000-7000-8000-000000000000', { allow_llm_base_url: true })).status).toBe(404);
  expect((await platform.request('PATCH', `/v1/admin/tenants/${id}`, {})).status).toBe(400);
  expect((await platform.request('PATCH', `/v1/admin/tenants/${id}`, { name: 'renamed' })).status).toBe(400);
});

test("one tenant's bad submission never fails another tenant's submissions made at the same moment", async () => {
  const { platform } = context;
  const [frank, grace] = [await createTenant(platform, 'frank'), await createTenant(platform, 'grace')];
  const good = Array.from({ length: 10 }, (_, i) => platform.request('POST', '/v1/missions', { goal: `fine ${i}`, plan: [shell('true')] }, grace));
  const bad = ['lone \ud800', 'nul \u0000'].map((goal) => platform.request('POST', '/v1/missions', { goal, plan: [shell('true')] }, frank));

  const answers = await Promise.all([...good, ...bad]);

  expect(answers.map((answer) => answer.status)).toEqual([...Array(10).fill(201), 400, 400]);
});

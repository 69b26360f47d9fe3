import { requestHash } from '../api/idempotency';
import { shell, usePlatform } from './platform';

const context = usePlatform({ worker: false });
const mission = { goal: 'idempotent', plan: [shell('echo once')] };
const missionCount = async () => Number((await context.env.db('missions').count({ n: '*' }))[0]!.n);

test('the same key and body replay the first response and create nothing new', async () => {
  const { platform } = context;
  const first = await platform.request('POST', '/v1/missions', mission, { 'idempotency-key': 'replay-1' });
  const before = await missionCount();

  const again = await platform.request('POST', '/v1/missions', mission, { 'idempotency-key': 'replay-1' });

  expect(first.status).toBe(201);
  expect(again.status).toBe(201);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.headers.get('location')).toBe(first.headers.get('location'));
  expect(await again.json()).toEqual(await first.json());
  expect(await missionCount()).toBe(before);
});

test('the same key with another body is a 422 and changes nothing', async () => {
  const { platform } = context;
  await platform.request('POST', '/v1/missions', mission, { 'idempotency-key': 'reuse-1' });
  const before = await missionCount();

  const other = await platform.request('POST', '/v1/missions', { ...mission, goal: 'something else' }, { 'idempotency-key': 'reuse-1' });

  expect(other.status).toBe(422);
  expect(((await other.json()) as { type: string }).type).toBe('/problems/idempotency-key-reused');
  expect(await missionCount()).toBe(before);
});

test('a key whose first request is still in flight answers 409', async () => {
  const { platform, env } = context;
  // What a request in flight leaves: the key taken, its lock live, no response yet.
  const admin = await env.db('tenants').where({ name: 'admin' }).first('id');
  const hash = requestHash({ method: 'POST', path: '/v1/missions', body: mission });
  await env.db('idempotency_keys').insert({ tenant_id: admin.id, key: 'in-flight-1', request_hash: hash, locked_until: new Date(Date.now() + 60_000) });

  const response = await platform.request('POST', '/v1/missions', mission, { 'idempotency-key': 'in-flight-1' });

  expect(response.status).toBe(409);
  expect(((await response.json()) as { type: string }).type).toBe('/problems/idempotency-key-in-use');
});

test('concurrent requests with one key create one mission; the others see it or are told to wait', async () => {
  const { platform } = context;
  const before = await missionCount();

  const responses = await Promise.all(
    Array.from({ length: 8 }, () => platform.request('POST', '/v1/missions', mission, { 'idempotency-key': 'race-1' })),
  );

  const ids = new Set<string>();
  for (const response of responses) {
    expect([201, 409]).toContain(response.status);
    if (response.status === 201) ids.add(((await response.json()) as { id: string }).id);
  }
  expect(ids.size).toBe(1);
  expect(await missionCount()).toBe(before + 1);
});

test('a batch is idempotent too', async () => {
  const { platform } = context;
  const batch = { missions: [mission, mission] };
  const first = (await (await platform.request('POST', '/v1/missions/batch', batch, { 'idempotency-key': 'batch-1' })).json()) as { batch_id: string };
  const before = await missionCount();

  const again = await platform.request('POST', '/v1/missions/batch', batch, { 'idempotency-key': 'batch-1' });

  expect(again.status).toBe(202);
  expect(((await again.json()) as { batch_id: string }).batch_id).toBe(first.batch_id);
  expect(await missionCount()).toBe(before);
});

test('a key is bound to its route, and the same body with its keys in another order is the same request', async () => {
  const { platform } = context;
  const first = await platform.request('POST', '/v1/missions', { goal: 'ordered', plan: [shell('true')] }, { 'idempotency-key': 'bound-1' });
  const reordered = await platform.request('POST', '/v1/missions', { plan: [{ input: { command: 'true' }, tool: 'shell' }], goal: 'ordered' }, { 'idempotency-key': 'bound-1' });

  expect(reordered.status).toBe(201);
  expect(reordered.headers.get('idempotent-replayed')).toBe('true');
  expect(await reordered.json()).toEqual(await first.json());

  const elsewhere = await platform.request('POST', '/v1/missions/batch', { missions: [{ goal: 'ordered', plan: [shell('true')] }] }, { 'idempotency-key': 'bound-1' });
  expect(elsewhere.status).toBe(422);
});

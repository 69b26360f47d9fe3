import { shell, usePlatform } from './platform';

// API only: nothing here should ever reach a worker.
const context = usePlatform({ worker: false });
const shellStep = shell('echo hi');
const missionCount = async () => Number((await context.env.db('missions').count({ n: '*' }))[0]!.n);

async function expectProblem(response: Response, status: number, type: string) {
  expect([response.status, response.headers.get('content-type')]).toEqual([status, expect.stringMatching(/^application\/problem\+json/)]);
  const problem = (await response.json()) as { type: string; status: number; title: string; request_id: string };
  expect(problem).toMatchObject({ type: `/problems/${type}`, status });
  expect(problem.request_id).toBe(response.headers.get('x-request-id'));
  return problem;
}

test.each([
  ['not JSON', '{"goal": "x", plan: [', 'malformed-json'],
  ['a JSON array', [shellStep], 'validation-failed'],
  ['JSON null (only objects and arrays are accepted)', 'null', 'malformed-json'],
  ['a missing goal', { plan: [shellStep] }, 'validation-failed'],
  ['a goal of the wrong type', { goal: 5, plan: [shellStep] }, 'validation-failed'],
  ['a huge goal', { goal: 'x'.repeat(20_000), plan: [shellStep] }, 'validation-failed'],
  ['an unknown tool', { goal: 'x', plan: [{ tool: 'rm_rf', input: {} }] }, 'validation-failed'],
  ['an empty plan', { goal: 'x', plan: [] }, 'validation-failed'],
  ['an unknown field', { goal: 'x', plan: [shellStep], priority_boost: 9 }, 'validation-failed'],
  ['an unknown field in a step input', { goal: 'x', plan: [{ tool: 'shell', input: { command: 'ls', sudo: true } }] }, 'validation-failed'],
  ['a negative max_steps', { goal: 'x', plan: [shellStep], max_steps: -1 }, 'validation-failed'],
  ['a body over 4 MB', { goal: 'x', plan: [shellStep], metadata: { blob: 'x'.repeat(4_300_000) } }, 'body-too-large'],
  ['a write_file over 1 MiB', { goal: 'x', plan: [{ tool: 'write_file', input: { path: 'a', content: 'x'.repeat(1_048_577) } }] }, 'validation-failed'],
  ['bytes that are not UTF-8', Buffer.from([0x7b, 0x22, 0x67, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), 'invalid-encoding'],
])('a mission with %s is refused with a problem and nothing is written', async (_what, body, type) => {
  const response = await context.platform.request('POST', '/v1/missions', body as object);

  await expectProblem(response, type === 'body-too-large' ? 413 : 400, type);
  expect(await missionCount()).toBe(0);
});

test.each([
  ['a NUL in the goal', { goal: 'a\u0000b', plan: [shellStep] }, 'goal'],
  ['an unpaired surrogate in the goal', { goal: 'broken \ud800', plan: [shellStep] }, 'goal'],
  ['a NUL in a metadata value', { goal: 'x', plan: [shellStep], metadata: { note: ['ok', 'a\u0000'] } }, 'metadata.note.1'],
  ['a NUL in a metadata key', { goal: 'x', plan: [shellStep], metadata: { 'k\u0000': 1 } }, 'metadata.k\u0000'],
  ['an unpaired low surrogate in a command', { goal: 'x', plan: [shell('echo \udc00')] }, 'plan.0.input.command'],
  ['a NUL in write_file content', { goal: 'x', plan: [{ tool: 'write_file', input: { path: 'a', content: '\u0000' } }] }, 'plan.0.input.content'],
])('a mission with %s is refused with a 400 naming the field, and nothing is written', async (_what, body, path) => {
  const response = await context.platform.request('POST', '/v1/missions', body);

  const problem = (await expectProblem(response, 400, 'validation-failed')) as unknown as { errors: { path: string; message: string }[] };
  expect(problem.errors).toEqual([{ path, message: 'holds a NUL character or an unpaired UTF-16 surrogate, which cannot be stored' }]);
  expect(await missionCount()).toBe(0);
});

test('a deadline above MISSION_DEADLINE_MAX_S is refused', async () => {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'x', plan: [shellStep], deadline_s: 86_401 });

  const problem = (await expectProblem(response, 400, 'validation-failed')) as unknown as { errors: { path: string }[] };
  expect(problem.errors.map((error) => error.path)).toEqual(['deadline_s']);
});

test('a write_file of the largest size allowed fits in a request, as text and as base64', async () => {
  const text = await context.platform.request('POST', '/v1/missions', { goal: 'x', plan: [{ tool: 'write_file', input: { path: 'a', content: 'é'.repeat(524_288) } }] });
  const base64 = Buffer.alloc(1_048_576, 7).toString('base64');
  const bytes = await context.platform.request('POST', '/v1/missions', { goal: 'x', plan: [{ tool: 'write_file', input: { path: 'b', content: base64, encoding: 'base64' } }] });

  expect([text.status, bytes.status]).toEqual([201, 201]);
  await context.env.db('missions').delete();
});

test('the validation problem names the field that is wrong', async () => {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'x', plan: [{ tool: 'nope', input: {} }] });

  const problem = (await response.json()) as { errors: { path: string; message: string }[] };
  expect(problem.errors).toEqual([{ path: 'plan.0.tool', message: 'unknown tool "nope": the tools are shell, python, read_file, write_file, finish' }]);
});

test.each([
  ['/v1/missions?limit=0', 'validation-failed'],
  ['/v1/missions?limit=abc', 'validation-failed'],
  ['/v1/missions?status=bogus', 'validation-failed'],
  ['/v1/missions?batch_id=not-a-uuid', 'validation-failed'],
  ['/v1/missions?sort=asc', 'validation-failed'],
  ['/v1/missions?status=queued&status=failed', 'validation-failed'],
  ['/v1/missions?cursor=not-a-cursor', 'invalid-cursor'],
  [`/v1/missions?cursor=${Buffer.from('{"id":"x"}').toString('base64url')}`, 'invalid-cursor'],
])('GET %s is refused with a problem', async (path, type) => {
  await expectProblem(await context.platform.request('GET', path), 400, type);
});

test('bad headers are refused: an Idempotency-Key that is too long, a Last-Event-ID that is not a number', async () => {
  const { platform } = context;
  const key = 'k'.repeat(300);
  await expectProblem(await platform.request('POST', '/v1/missions', { goal: 'x', plan: [shellStep] }, { 'idempotency-key': key }), 400, 'invalid-idempotency-key');
  const { id } = (await (await platform.request('POST', '/v1/missions', { goal: 'x', plan: [shellStep] })).json()) as { id: string };
  await expectProblem(await platform.request('GET', `/v1/missions/${id}/events`, undefined, { 'last-event-id': 'abc' }), 400, 'invalid-last-event-id');
  await context.env.db('missions').delete();
});

test('a batch body that is not {"missions": [...]} is refused', async () => {
  for (const body of [{}, { missions: [] }, { missions: 'x' }, [{ goal: 'x' }], { missions: [], extra: 1 }]) {
    await expectProblem(await context.platform.request('POST', '/v1/missions/batch', body), 400, 'validation-failed');
  }
  expect(await missionCount()).toBe(0);
});

test('requests without a valid API key are refused with 401', async () => {
  const response = await context.platform.request('GET', '/v1/missions', undefined, { authorization: 'Bearer wrong-key-wrong-key' });

  await expectProblem(response, 401, 'unauthorized');
  expect(response.headers.get('www-authenticate')).toBe('Bearer');
});

test('an unknown mission, route or method is a 404 problem', async () => {
  for (const path of ['/v1/missions/00000000-0000-7000-8000-000000000000', '/v1/missions/not-an-id', '/v1/nothing-here']) {
    await expectProblem(await context.platform.request('GET', path), 404, 'not-found');
  }
});

test('health, readiness, metrics, request ids and the OpenAPI document', async () => {
  const { platform } = context;
  expect(await (await platform.request('GET', '/healthz')).json()).toEqual({ status: 'ok' });
  expect(await (await platform.request('GET', '/readyz')).json()).toEqual({ status: 'ready', checks: { postgres: true, redis: true }, workers_alive: 0 });
  const metrics = await (await platform.request('GET', '/metrics')).text();
  expect(metrics).toMatch(/http_request_duration_seconds_bucket\{.*route="\/readyz"/);
  expect(metrics).toMatch(/mission_queue_jobs\{state="waiting"\} \d+/);
  expect((await platform.request('GET', '/healthz', undefined, { 'x-request-id': 'trace-123' })).headers.get('x-request-id')).toBe('trace-123');

  const openApi = (await (await platform.request('GET', '/openapi.json')).json()) as {
    paths: Record<string, object>;
    components: { schemas: { MissionSpec: { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean } } };
  };
  expect(Object.keys(openApi.paths).sort()).toEqual([
    '/healthz',
    '/metrics',
    '/readyz',
    '/v1/admin/tenants',
    '/v1/admin/tenants/{id}',
    '/v1/batches/{id}',
    '/v1/batches/{id}/cancel',
    '/v1/batches/{id}/compare',
    '/v1/batches/{id}/results',
    '/v1/batches/{id}/retry',
    '/v1/files',
    '/v1/files/{id}',
    '/v1/missions',
    '/v1/missions/batch',
    '/v1/missions/{id}',
    '/v1/missions/{id}/approvals',
    '/v1/missions/{id}/artifacts',
    '/v1/missions/{id}/artifacts.tar.gz',
    '/v1/missions/{id}/artifacts/{path}',
    '/v1/missions/{id}/cancel',
    '/v1/missions/{id}/events',
    '/v1/missions/{id}/steps',
    '/v1/webhooks',
    '/v1/webhooks/{id}',
    '/v1/webhooks/{id}/deliveries',
    '/v1/webhooks/{id}/deliveries/{delivery}/redeliver',
  ]);
  const spec = openApi.components.schemas.MissionSpec;
  expect(Object.keys(spec.properties).sort()).toEqual([
    'allowed_tools', 'artifacts', 'custom_id', 'deadline_s', 'environment', 'fresh_sandbox', 'goal', 'keep_sandbox', 'llm', 'max_steps', 'metadata', 'plan', 'policy', 'replay_of', 'require_approval', 'scorer', 'sim_think_ms', 'token_limit', 'tools',
  ]);
  expect(spec.required).toEqual(['goal']); // plan is needed by the scripted policies only, which the route checks
  expect(spec.additionalProperties).toBe(false);
});

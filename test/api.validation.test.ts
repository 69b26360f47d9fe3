import { usePlatform } from './platform';

const context = usePlatform();

const shellStep = { tool: 'shell', input: { command: 'echo hi' } };

test.each([
  ['not JSON', '{"goal": "x", plan: [', 'malformed-json'],
  ['a JSON array', [shellStep], 'validation-failed'],
  ['a missing goal', { plan: [shellStep] }, 'validation-failed'],
  ['an unknown tool', { goal: 'x', plan: [{ tool: 'rm_rf', input: {} }] }, 'validation-failed'],
  ['an empty plan', { goal: 'x', plan: [] }, 'validation-failed'],
  ['an unknown field', { goal: 'x', plan: [shellStep], priority_boost: 9 }, 'validation-failed'],
])('%s is rejected with a 400 problem and nothing is written', async (_what, body, code) => {
  const response = await context.platform.request('POST', '/v1/missions', body);

  expect(response.status).toBe(400);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const problem = (await response.json()) as { type: string; status: number; detail: string };
  expect(problem).toMatchObject({ type: `/problems/${code}`, status: 400 });
  expect(problem.detail.length).toBeGreaterThan(0);
  expect(await context.env.db('missions').count({ n: '*' })).toEqual([{ n: '0' }]);
});

test('the validation problem names the field that is wrong', async () => {
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'x', plan: [{ tool: 'nope', input: {} }] });

  const problem = (await response.json()) as { errors: { path: string; message: string }[] };
  expect(problem.errors).toEqual([
    { path: 'plan.0.tool', message: 'unknown tool: the tools are shell, python, read_file, write_file, finish' },
  ]);
});

test('a request without the API key is refused with 401', async () => {
  const response = await context.platform.request('GET', '/v1/missions/00000000-0000-7000-8000-000000000000', undefined, {
    authorization: 'Bearer wrong-key-wrong-key',
  });

  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toBe('Bearer');
});

test('an unknown mission is a 404 problem, whether or not its id is well formed', async () => {
  for (const id of ['00000000-0000-7000-8000-000000000000', 'not-an-id']) {
    const response = await context.platform.request('GET', `/v1/missions/${id}`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  }
});

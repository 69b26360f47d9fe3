import fc from 'fast-check';
import { missionSpecSchema } from '../jobs/mission';
import { shell, usePlatform } from './platform';

// Property-based fuzzing of every route: whatever arrives, the answer is a success or an RFC 9457 problem,
// never a 5xx; the process stays up; and nothing half-written is left behind. API only: nothing here runs.
const context = usePlatform({ worker: false });
const RUNS = Number(process.env.FUZZ_RUNS ?? 100);

// Strings of any code point, with what Postgres cannot store (NUL, unpaired surrogates) mixed in often.
const hostileChar = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', '\ud800', '\udfff', '\ud83d', '\ufffd', '\\u0000', '"', '\u2028') },
);
const hostileString = fc.string({ unit: hostileChar, maxLength: 40 });
const hostileJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

// Mission-like bodies: the schema's own fields with plausible and hostile values, so they get past the first checks.
const toolCall = fc.oneof(
  fc.record({ tool: fc.constant('shell'), input: fc.record({ command: hostileString, timeout_s: fc.option(fc.integer(), { nil: undefined }) }, { requiredKeys: ['command'] }) }),
  fc.record({ tool: fc.constant('write_file'), input: fc.record({ path: hostileString, content: hostileString, encoding: fc.constantFrom('utf-8', 'base64', 'latin1') }, { requiredKeys: ['path', 'content'] }) }),
  fc.record({ tool: fc.constantFrom('read_file', 'python', 'finish', 'nope'), input: hostileJson }),
);
const missionLike = fc.record(
  {
    goal: fc.oneof(hostileString, hostileJson),
    policy: fc.constantFrom('scripted', 'sim', 'openai', 'replay', 'other'),
    plan: fc.array(toolCall, { maxLength: 3 }),
    llm: fc.record(
      { endpoint: fc.oneof(hostileString, fc.constantFrom('default', 'none')), base_url: fc.oneof(hostileString, fc.webUrl()), model: hostileString, format: fc.constantFrom('tools', 'text', 'x') },
      { requiredKeys: [] },
    ),
    replay_of: fc.oneof(fc.uuid(), hostileString),
    require_approval: fc.array(fc.constantFrom('shell', 'python', 'sudo'), { maxLength: 5 }),
    max_steps: fc.oneof(fc.integer(), fc.double()),
    deadline_s: fc.oneof(fc.integer(), fc.double(), hostileString),
    sim_think_ms: fc.integer(),
    custom_id: fc.oneof(hostileString, fc.constantFrom('same', 'same', '')),
    token_limit: fc.oneof(fc.integer(), fc.double(), hostileString),
    metadata: fc.dictionary(hostileString, hostileJson, { maxKeys: 3 }),
    [`x`]: hostileJson,
  },
  { requiredKeys: [] },
);

const idLike = fc.oneof(fc.uuid(), hostileString, fc.constant('00000000-0000-0000-0000-000000000000'));
// Header values must be Latin-1, without line breaks or surrounding blanks, to be sent at all.
const headerChar = fc.oneof(fc.integer({ min: 0x21, max: 0x7e }), fc.integer({ min: 0xa1, max: 0xff })).map((code) => String.fromCharCode(code));
const headerValue = fc.string({ unit: headerChar, minLength: 1, maxLength: 300 });
const queryValue = fc.oneof(hostileString, fc.integer().map(String), fc.constantFrom('99999999999', '-1', '1e9', '', 'eyJzZXEiOjk5OTk5OTk5OTk5fQ', 'eyJpZCI6InhcdTAwMDAifQ', 'eyJzZXEiOi0xfQ'));
const query = fc.dictionary(fc.constantFrom('status', 'batch_id', 'limit', 'cursor', 'after', 'attempts', 'with', 'x'), fc.oneof(queryValue, fc.constantFrom('failed,cancelled', 'all', 'latest')), { maxKeys: 4 });

async function expectAnswered(response: Response): Promise<void> {
  const body = await response.text();
  if (response.status >= 500) throw new Error(`${response.status}: ${body}`);
  if (response.status >= 400) {
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(body)).toMatchObject({ status: response.status, type: expect.any(String), title: expect.any(String) });
  }
}

const encode = (value: string) => encodeURIComponent(value.toWellFormed());
const queryString = (entries: Record<string, string>) => Object.entries(entries).map(([key, value]) => `${key}=${encode(value)}`).join('&');

test('submissions of any shape are accepted or refused with a problem, singly, in batches and with idempotency keys', async () => {
  const { platform } = context;
  await fc.assert(
    fc.asyncProperty(missionLike, fc.array(fc.oneof(missionLike, hostileJson), { maxLength: 4 }), fc.option(headerValue, { nil: undefined }), async (mission, batch, key) => {
      const headers: Record<string, string> = key === undefined ? {} : { 'idempotency-key': key };
      await expectAnswered(await platform.request('POST', '/v1/missions', mission, headers));
      await expectAnswered(await platform.request('POST', '/v1/missions/batch', { missions: batch }, headers));
      await expectAnswered(await platform.request('POST', '/v1/missions/batch', { missions: batch, token_limit: mission.token_limit }, headers));
    }),
    {
      numRuns: RUNS,
      // A refusal that names a key holding NUL is itself stored, for the idempotency key: it must be storable too.
      examples: [[{ goal: 'x', plan: [shell('true')], metadata: { 'k\u0000': 1 } } as never, [], 'fuzz-example']],
    },
  );
});

test('any JSON, or any bytes, on every route that takes a body is answered with a problem, never a 5xx', async () => {
  const { platform } = context;
  const { id } = (await (await platform.request('POST', '/v1/missions', { goal: 'target', plan: [shell('true')] })).json()) as { id: string };
  const tenant = (await (await platform.request('POST', '/v1/admin/tenants', { name: 'fuzzed' })).json()) as { tenant: { id: string } };
  const { batch_id: batchId } = (await (await platform.request('POST', '/v1/missions/batch', { missions: [{ goal: 'target', plan: [shell('true')] }] })).json()) as { batch_id: string };
  const { id: webhookId } = (await (await platform.request('POST', '/v1/webhooks', { url: 'https://203.0.114.9/hooks', events: ['batch.ended'] })).json()) as { id: string };
  const routes = [
    ['POST', '/v1/webhooks'],
    ['POST', `/v1/webhooks/${webhookId}/deliveries/msg_0/redeliver`],
    ['DELETE', `/v1/webhooks/${webhookId}x`],
    ['POST', `/v1/batches/${batchId}/retry`],
    ['POST', `/v1/batches/${batchId}/cancel`],
    ['POST', '/v1/missions'],
    ['POST', '/v1/missions/batch'],
    ['POST', `/v1/missions/${id}/approvals`],
    ['POST', `/v1/missions/${id}/cancel`],
    ['POST', '/v1/admin/tenants'],
    ['PATCH', `/v1/admin/tenants/${tenant.tenant.id}`],
  ] as const;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(hostileJson.map((value) => JSON.stringify(value)), fc.uint8Array({ maxLength: 64 }).map(Buffer.from)), async ([method, route], body) => {
      await expectAnswered(await platform.request(method, route, body));
    }),
    { numRuns: RUNS * 2 },
  );
});

test('any id, query or header on the read routes is answered, never a 5xx', async () => {
  const { platform } = context;
  const { id } = (await (await platform.request('POST', '/v1/missions', { goal: 'target', plan: [shell('true')] })).json()) as { id: string };
  await platform.request('POST', `/v1/missions/${id}/cancel`);
  const { batch_id: batchId } = (await (await platform.request('POST', '/v1/missions/batch', { missions: [{ goal: 'target', plan: [shell('true')] }] })).json()) as { batch_id: string };
  await fc.assert(
    fc.asyncProperty(
      fc.oneof({ weight: 1, arbitrary: idLike }, { weight: 3, arbitrary: fc.constant(id) }),
      query,
      fc.record({ 'last-event-id': headerValue, 'x-request-id': headerValue }, { requiredKeys: [] }),
      async (target, parameters, headers) => {
        const path = encode(target);
        const batch = target === id ? batchId : path;
        for (const route of [
          `/v1/missions?${queryString(parameters)}`,
          `/v1/missions/${path}`,
          `/v1/missions/${path}/steps?${queryString(parameters)}`,
          `/v1/batches/${path}`,
          `/v1/batches/${batch}/results?${queryString(parameters)}`,
          `/v1/batches/${batch}/compare?${queryString(parameters)}`,
          `/v1/webhooks/${path}/deliveries?${queryString(parameters)}`,
        ]) {
          await expectAnswered(await platform.request('GET', route, undefined, headers));
        }
        // The mission is cancelled, so its stream replays and closes at once.
        await expectAnswered(await platform.request('GET', `/v1/missions/${target === id ? id : path}/events`, undefined, headers));
      },
    ),
    {
      numRuns: RUNS,
      // Boundaries worth trying every time: step numbers past Postgres's integer range.
      examples: [
        [id, { after: '99999999999' }, {}],
        [id, { cursor: Buffer.from('{"seq":99999999999}').toString('base64url') }, {}],
      ],
    },
  );
});

test('after the fuzzing the process is up and nothing is half-written', async () => {
  const { platform, env } = context;
  expect((await platform.request('GET', '/healthz')).status).toBe(200);
  const schema = missionSpecSchema({ defaultDeadlineS: env.config.MISSION_DEADLINE_S, maxDeadlineS: env.config.MISSION_DEADLINE_MAX_S });
  const missions = (await env.db('missions').select('spec', 'goal')) as { spec: unknown; goal: string }[];
  expect(missions.length).toBeGreaterThan(0);
  for (const { spec } of missions) expect(schema.safeParse(spec).success).toBe(true);
  const batches = await env.db('batches')
    .leftJoin('missions', (join) => join.on('missions.batch_id', 'batches.id').andOnNull('missions.superseded_by'))
    .groupBy('batches.id')
    .select('batches.accepted')
    .count({ n: 'missions.id' });
  for (const batch of batches as { accepted: number; n: string }[]) expect(Number(batch.n)).toBe(batch.accepted);
  expect(await env.db('idempotency_keys').whereNull('response_status').count({ n: '*' })).toEqual([{ n: '0' }]);
});

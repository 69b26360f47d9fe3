import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { MissionStore } from '../store/missionStore';
import { startWorker, type RunningWorker } from '../apps/worker';
import { enqueueMissions } from '../store/enqueue';
import { createMissionQueue } from '../lib/queue';
import { createRedis } from '../lib/redis';
import { startFakeLlm, textReply, toolCall, type FakeLlm } from './fakeLlm';
import { pendingJobs, testLogger } from './harness';
import { createTenant, usePlatform, type TestPlatform } from './platform';

// A hostile tenant against the running stack. The operator's endpoints are local servers speaking the
// chat-completions format; a listener stands in for the attacker's server and counts every connection it gets.
const KEY_DEFAULT = 'sk-default-0123456789abcdef';
const KEY_BETA = 'sk-beta-fedcba9876543210';

let alpha: FakeLlm;
let beta: FakeLlm;
let tenantOwn: FakeLlm;
let attacker: Server;
let attackerPort: number;
let attackerConnections = 0;

const HOSTS = '/etc/hosts';
const MARK = `# mission-control test ${process.pid}`;
/** Names resolved by the machine's own resolver, through /etc/hosts: real lookups, chosen answers. */
function setHosts(entries: Record<string, string>): void {
  const kept = readFileSync(HOSTS, 'utf8').split('\n').filter((line) => !line.endsWith(MARK) && line !== '');
  writeFileSync(HOSTS, [...kept, ...Object.entries(entries).map(([name, address]) => `${address} ${name} ${MARK}`), ''].join('\n'));
}

beforeAll(async () => {
  [alpha, beta, tenantOwn] = await Promise.all([startFakeLlm(), startFakeLlm(), startFakeLlm()]);
  attacker = createServer((socket) => socket.destroy());
  attacker.on('connection', () => attackerConnections++);
  attacker.listen(0, '127.0.0.1');
  await once(attacker, 'listening');
  attackerPort = (attacker.address() as { port: number }).port;
  setHosts({ 'private.mc-test': '10.11.12.13', 'metadata.mc-test': '169.254.169.254', 'loop.mc-test': '127.0.0.1', 'rebind.mc-test': '93.184.216.34' });
});
afterAll(async () => {
  setHosts({});
  await Promise.all([alpha, beta, tenantOwn].map((server) => server?.close()));
  attacker?.close();
});

// No worker at first: the rebinding case changes a name's answer between submission and the first call.
const context = usePlatform({
  worker: false,
  env: () => ({
    LLM_BASE_URL: alpha.baseUrl,
    LLM_API_KEY: KEY_DEFAULT,
    LLM_MODELS: 'model-a',
    LLM_ENDPOINTS: JSON.stringify({ beta: { base_url: beta.baseUrl, api_key_env: 'TEST_BETA_KEY', models: ['model-b'] } }),
    TEST_BETA_KEY: KEY_BETA,
    LLM_TENANT_URL_ALLOWLIST: new URL(tenantOwn.baseUrl).origin,
  }),
});
let worker: RunningWorker | undefined;
afterAll(() => worker?.close());

let mallory: Record<string, string>;
let trusted: Record<string, string>;
beforeAll(async () => {
  mallory = await createTenant(context.platform, 'mallory');
  trusted = await createTenant(context.platform, 'trusted');
  const { id } = (await context.env.db('tenants').where({ name: 'trusted' }).first('id')) as { id: string };
  const allowed = await context.platform.request('PATCH', `/v1/admin/tenants/${id}`, { allow_llm_base_url: true });
  expect(allowed.status).toBe(200);
});

async function expectRefused(platform: TestPlatform, headers: Record<string, string>, llm: object, message: RegExp) {
  const response = await platform.request('POST', '/v1/missions', { goal: 'steal', policy: 'openai', llm }, headers);
  expect(response.status).toBe(400);
  const problem = (await response.json()) as { errors: { path: string; message: string }[] };
  expect(problem.errors).toEqual([{ path: expect.stringMatching(/^llm/), message: expect.stringMatching(message) }]);
}

const startWorkerOnce = async () => (worker ??= await startWorker(context.env.config, testLogger(), context.env.owner));

test("a tenant the operator did not allow cannot point a mission at its own server: refused, and the server hears nothing", async () => {
  const target = `http://127.0.0.1:${attackerPort}/v1`;
  await expectRefused(context.platform, mallory, { base_url: target }, /may not send model calls to a URL of its own/);
  const batch = await context.platform.request('POST', '/v1/missions/batch', { missions: [{ goal: 'steal', policy: 'openai', llm: { base_url: target, model: 'x' } }] }, mallory);
  expect(batch.status).toBe(400);
  await startWorkerOnce();
  // Nothing was accepted, so nothing is there for a worker to run: no mission, no job.
  expect(await context.env.db('missions').count({ n: '*' })).toEqual([{ n: '0' }]);
  expect(await pendingJobs(context.env.config)).toBe(0);
  expect(attackerConnections).toBe(0);
});

test.each([
  ['plain http', `http://127.0.0.1:{port}/v1`, /must be https/],
  ['loopback', `https://127.0.0.1:{port}/v1`, /not a public address \(127\.0\.0\.1\)/],
  ['loopback by name', `https://loop.mc-test:{port}/v1`, /not a public address \(127\.0\.0\.1\)/],
  ['localhost', `https://localhost:{port}/v1`, /not a public address/],
  ['IPv6 loopback', `https://[::1]:{port}/v1`, /not a public address \(::1\)/],
  ['IPv4 loopback inside IPv6', `https://[::ffff:127.0.0.1]:{port}/v1`, /not a public address/],
  ['a private address by name', 'https://private.mc-test/v1', /not a public address \(10\.11\.12\.13\)/],
  ['the metadata service by name', 'https://metadata.mc-test/v1', /not a public address \(169\.254\.169\.254\)/],
  ['the metadata service', 'https://169.254.169.254/latest', /not a public address/],
])('even an allowed tenant cannot reach %s', async (_what, url, message) => {
  await expectRefused(context.platform, trusted, { base_url: url.replace('{port}', String(attackerPort)), model: 'm' }, message);
  expect(attackerConnections).toBe(0);
});

test('a name that resolved to a public address at submission and to loopback at the call is refused at connect time', async () => {
  await worker?.close();
  worker = undefined;
  const response = await context.platform.request(
    'POST',
    '/v1/missions',
    { goal: 'rebind', policy: 'openai', llm: { base_url: `https://rebind.mc-test:${attackerPort}/v1`, model: 'm' } },
    trusted,
  );
  expect(response.status).toBe(201);
  const { id } = (await response.json()) as { id: string };
  setHosts({ 'rebind.mc-test': '127.0.0.1' });
  await startWorkerOnce();

  const mission = await context.platform.waitForMission(id, 30_000, trusted);
  expect(mission).toMatchObject({ status: 'failed', error: { code: 'ERR_POLICY' } });
  expect(mission.error!.message).toMatch(/not a public address/);
  expect(attackerConnections).toBe(0);
});

test('each operator endpoint receives its own key and no other; a tenant URL receives no key at all', async () => {
  await startWorkerOnce();
  alpha.reply(textReply('from alpha'));
  beta.reply(textReply('from beta'));
  tenantOwn.reply(textReply('from the tenant'));
  const run = async (llm: object, headers: Record<string, string>) => {
    const response = await context.platform.request('POST', '/v1/missions', { goal: 'answer', policy: 'openai', llm }, headers);
    expect(response.status).toBe(201);
    return context.platform.waitForMission(((await response.json()) as { id: string }).id, 30_000, headers);
  };

  expect(await run({}, mallory)).toMatchObject({ status: 'succeeded', result: 'from alpha' });
  expect(await run({ endpoint: 'beta' }, mallory)).toMatchObject({ status: 'succeeded', result: 'from beta' });
  expect(await run({ base_url: tenantOwn.baseUrl, model: 'own' }, trusted)).toMatchObject({ status: 'succeeded', result: 'from the tenant' });

  expect(alpha.authorizations).toEqual([`Bearer ${KEY_DEFAULT}`]);
  expect(beta.authorizations).toEqual([`Bearer ${KEY_BETA}`]);
  expect(tenantOwn.authorizations).toEqual([undefined]);
  expect([alpha.requests[0]!.model, beta.requests[0]!.model, tenantOwn.requests[0]!.model]).toEqual(['model-a', 'model-b', 'own']);
});

test('a mission asks only for endpoints and models the operator offers', async () => {
  await expectRefused(context.platform, mallory, { endpoint: 'gamma' }, /no endpoint "gamma"; the endpoints are/);
  await expectRefused(context.platform, mallory, { endpoint: 'beta', model: 'model-a' }, /endpoint "beta" offers model-b/);
});

test("replay_of another tenant's mission is a 404 at submission, and the worker refuses it too", async () => {
  await startWorkerOnce();
  alpha.reply(toolCall('shell', { command: 'echo the secret plan' }), textReply('done'));
  const recorded = await context.platform.request('POST', '/v1/missions', { goal: 'private', policy: 'openai', llm: { record: true } }, trusted);
  const recordedId = ((await recorded.json()) as { id: string }).id;
  expect((await context.platform.waitForMission(recordedId, 30_000, trusted)).status).toBe('succeeded');

  const single = await context.platform.request('POST', '/v1/missions', { goal: 'peek', policy: 'replay', replay_of: recordedId }, mallory);
  expect(single.status).toBe(404);
  const batch = await context.platform.request('POST', '/v1/missions/batch', { missions: [{ goal: 'peek', policy: 'replay', replay_of: recordedId }] }, mallory);
  expect(((await batch.json()) as { items: { error: { status: number } }[] }).items[0]!.error.status).toBe(404);

  // A mission that got past the API some other way (written by an older version, say) meets the worker's check.
  const malloryId = ((await context.env.db('tenants').where({ name: 'mallory' }).first('id')) as { id: string }).id;
  const store = new MissionStore(context.env.db);
  const [smuggled] = await store.create([
    { tenant_id: malloryId, spec: { goal: 'peek', policy: 'replay', replay_of: recordedId, plan: [], max_steps: 10, deadline_s: 60, metadata: {} } },
  ]);
  const redis = createRedis(context.env.config, 'producer');
  const queue = createMissionQueue(redis, context.env.config.QUEUE_PREFIX);
  await enqueueMissions(queue, store, [smuggled!]);
  await queue.close();
  redis.disconnect();

  const mission = await context.platform.waitForMission(smuggled!.id, 30_000, mallory);
  expect(mission).toMatchObject({ status: 'failed', steps: [], error: { code: 'ERR_POLICY', message: `the policy failed: replay_of: this tenant has no mission ${recordedId}` } });
});

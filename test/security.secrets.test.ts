import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import IORedis from 'ioredis';
import type { Logger } from '../lib/logger';
import { redactor, secretsOf } from '../lib/secrets';
import { capturedLogger, createTestEnv, type TestEnv } from './harness';
import { shell, startPlatform, type TestPlatform } from './platform';
import { PrivatePostgres, PrivateRedis } from './services';

// Every kind of secret configured, each with a value that cannot occur by chance; then the platform is used,
// errors included, and every log line, answer, metric and job in Redis is searched for them.
const SECRETS = {
  admin: 'admin-key-4d1c9e7b2a35f6081',
  llm: 'sk-llm-key-9f8e7d6c5b4a3210',
  echoed: 'sk-echoed-key-0a1b2c3d4e5f6789',
  postgres: 'pg-password-7c2e9a4b1d6f',
  redis: 'redis-password-3b8d5f1a9c2e',
};

let postgres: PrivatePostgres;
let redis: PrivateRedis;
let env: TestEnv;
let platform: TestPlatform;
let logger: Logger;
let model: Server;
let logLines: string[];
const answers: string[] = [];

beforeAll(async () => {
  postgres = await PrivatePostgres.create('mission', SECRETS.postgres);
  redis = await PrivateRedis.start(SECRETS.redis);
  // A model endpoint that answers the default endpoint's calls, and echoes the key of the other in its refusal,
  // as some providers do.
  model = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url?.startsWith('/echo')) return void res.writeHead(401).end(`{"error": "invalid key: ${req.headers.authorization}"}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'fine' } }] }));
    });
  });
  model.listen(0, '127.0.0.1');
  await once(model, 'listening');
  const base = `http://127.0.0.1:${(model.address() as { port: number }).port}`;
  env = await createTestEnv({
    DATABASE_URL: postgres.url('mission', SECRETS.postgres),
    REDIS_URL: redis.url,
    ADMIN_API_KEY: SECRETS.admin,
    LLM_BASE_URL: `${base}/v1`,
    LLM_API_KEY: SECRETS.llm,
    LLM_ENDPOINTS: JSON.stringify({ echo: { base_url: `${base}/echo`, api_key_env: 'TEST_ECHOED_KEY', models: ['m'] } }),
    TEST_ECHOED_KEY: SECRETS.echoed,
  });
  ({ logger, lines: logLines } = capturedLogger(redactor(secretsOf(env.config))));
  platform = await startPlatform(env, { logger });
});

afterAll(async () => {
  await platform?.close();
  await env?.cleanup();
  model?.close();
  await redis?.kill();
  await postgres?.destroy();
});

async function answered(method: string, path: string, body?: object, headers?: Record<string, string>): Promise<string> {
  const text = await (await platform.request(method, path, body, headers)).text();
  answers.push(text);
  return text;
}

test('no secret appears in any log line, answer, metric, OpenAPI document or job, whatever happens', async () => {
  const created = await platform.request('POST', '/v1/admin/tenants', { name: 'acme' });
  const { api_key: tenantKey } = (await created.json()) as { api_key: string };
  const tenant = { authorization: `Bearer ${tenantKey}` };

  const ids: string[] = [];
  for (const mission of [
    { goal: 'works', plan: [shell('echo ok')] },
    { goal: 'fails', plan: [shell('exit 3')] },
    { goal: 'asks the model', policy: 'openai' },
    { goal: 'meets a provider that echoes keys', policy: 'openai', llm: { endpoint: 'echo' } },
  ]) {
    ids.push((JSON.parse(await answered('POST', '/v1/missions', mission, tenant)) as { id: string }).id);
  }
  for (const id of ids) await platform.waitForMission(id, 30_000, tenant);
  for (const id of ids) {
    await answered('GET', `/v1/missions/${id}`, undefined, tenant);
    await answered('GET', `/v1/missions/${id}/steps`, undefined, tenant);
    answers.push(JSON.stringify(await platform.events(id, undefined, tenant)));
  }
  const failedWithEcho = JSON.parse(answers.at(-3)!) as { status: string; error: { message: string } };
  expect(failedWithEcho.status).toBe('failed');
  expect(failedWithEcho.error.message).toContain('invalid key: Bearer [redacted]');
  await answered('GET', '/v1/missions', undefined, tenant);
  await answered('GET', '/v1/missions', undefined, { authorization: `Bearer ${SECRETS.llm}` });
  await answered('POST', '/v1/admin/tenants', { name: 'nope' }, tenant);
  await answered('GET', '/metrics');
  await answered('GET', '/openapi.json');
  await answered('GET', '/readyz');
  const jobs = new IORedis(redis.url);
  for await (const keys of jobs.scanStream({ match: `${env.config.QUEUE_PREFIX}:*`, count: 500 }) as AsyncIterable<string[]>) {
    for (const key of keys) if ((await jobs.type(key)) === 'hash') answers.push(JSON.stringify(await jobs.hgetall(key)));
  }
  jobs.disconnect();

  // Even a line that carries the whole configuration (a careless debug line) leaves the secrets out.
  logger.debug({ config: env.config, tenantKey }, 'the configuration');
  expect(logLines.length).toBeGreaterThan(5);
  expect(logLines.at(-1)).toContain(`"ADMIN_API_KEY":"[redacted]"`);
  for (const secret of [...Object.values(SECRETS), tenantKey]) {
    expect(logLines.filter((line) => line.includes(secret))).toEqual([]);
    expect(answers.filter((text) => text.includes(secret))).toEqual([]);
  }
});

test('every answer carries security headers and no CORS header unless origins are configured', async () => {
  const response = await platform.request('GET', '/healthz', undefined, { origin: 'https://evil.example' });

  expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  expect(response.headers.get('strict-transport-security')).toMatch(/max-age=/);
  expect(response.headers.get('content-security-policy')).toBeTruthy();
  expect(response.headers.get('access-control-allow-origin')).toBeNull();
});

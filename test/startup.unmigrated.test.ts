import { once } from 'node:events';
import { startApi } from '../apps/api';
import { ConfigError, loadConfig } from '../lib/config';
import { EXIT_CONFIG } from '../lib/service';
import { startWorker } from '../apps/worker';
import { createTestEnv, testLogger, type TestEnv } from './harness';
import { forkApi } from './processes';

// A process pointed at a schema its migrations have not reached refuses to start, naming what to run, instead
// of serving 500s (`relation "tenants" does not exist`).
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env?.cleanup());

test('the API and a worker on an unmigrated schema refuse to start, naming the command; the API process exits 78', async () => {
  const schema = `${env.config.DATABASE_SCHEMA}_empty`;
  await env.db.raw('create schema ??', [schema]);
  try {
    const config = loadConfig({ ...process.env, DATABASE_SCHEMA: schema, QUEUE_PREFIX: env.config.QUEUE_PREFIX, PORT: '0' });
    const refused = /DATABASE_SCHEMA \S+ lacks 21 migration\(s\), from 001_missions_and_steps: run `npm run bootstrap`/;
    await expect(startApi(config, testLogger())).rejects.toThrow(refused);
    await expect(startWorker(config, testLogger(), `${env.owner}-unmigrated`)).rejects.toBeInstanceOf(ConfigError);
    const child = forkApi(env.config, 0, { DATABASE_SCHEMA: schema });
    const [code] = await once(child, 'exit');
    expect(code).toBe(EXIT_CONFIG);
  } finally {
    await env.db.raw('drop schema ?? cascade', [schema]);
  }
});

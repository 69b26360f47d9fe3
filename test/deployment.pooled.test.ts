import { Cluster } from 'ioredis';
import { Client } from 'pg';
import { startApi } from '../apps/api';
import { ConfigError, loadConfig } from '../lib/config';
import { createRedis } from '../lib/redis';
import { createTestEnv, testLogger } from './harness';
import { shell, usePlatform } from './platform';

// Only under jest.pooled.config.js: that this run really is on Redis Cluster and behind PgBouncer, and what a
// misconfigured pooled deployment is told.
const context = usePlatform();

test('the platform runs missions on a Redis Cluster and reaches Postgres through PgBouncer in transaction mode', async () => {
  const { config } = context.env;
  const response = await context.platform.request('POST', '/v1/missions', { goal: 'pooled', plan: [shell('echo pooled')] });
  const mission = await context.platform.waitForMission(((await response.json()) as { id: string }).id);
  expect(mission).toMatchObject({ status: 'succeeded', result: { output: 'pooled\n' } });

  const redis = createRedis(config, 'worker');
  try {
    expect(redis).toBeInstanceOf(Cluster);
    await redis.ping();
    expect((redis as Cluster).nodes('master')).toHaveLength(3);
  } finally {
    redis.disconnect();
  }
  // PgBouncer's own console: the platform's connections are its clients, as the test file's role.
  const admin = new Client({ connectionString: Object.assign(new URL(process.env.DATABASE_URL!), { pathname: '/pgbouncer' }).toString() });
  await admin.connect();
  try {
    const pools = (await admin.query('show pools')).rows as { user: string; pool_mode: string }[];
    expect(pools).toContainEqual(expect.objectContaining({ user: config.DATABASE_SCHEMA, pool_mode: 'transaction' }));
  } finally {
    await admin.end();
  }
});

test('behind the pooler, a DATABASE_SCHEMA that is not the role\'s own search_path stops the process with a message', async () => {
  const wrong = loadConfig({ ...process.env, DATABASE_URL: context.env.config.DATABASE_URL, DATABASE_SCHEMA: 'public', PORT: '0' });

  const refused = await startApi(wrong, testLogger()).catch((error: unknown) => error);

  expect(refused).toBeInstanceOf(ConfigError);
  expect((refused as Error).message).toMatch(new RegExp(`alter role ${context.env.config.DATABASE_SCHEMA} set search_path = public`));
});

test('test files make and drop their own roles at the same moment', async () => {
  // Jest starts test files in parallel; each makes a role and grants it the database (CI once failed here with
  // "tuple concurrently updated" when two grants met on the database's row).
  const envs = await Promise.all(Array.from({ length: 8 }, () => createTestEnv()));
  const schemas = envs.map((env) => env.config.DATABASE_SCHEMA);
  const users = await Promise.all(envs.map(async (env) => (await env.db.raw('select current_user as name')).rows[0].name));
  expect(users).toEqual(schemas);
  await Promise.all(envs.map((env) => env.cleanup()));
  const owner = new Client({ connectionString: process.env.DATABASE_LISTEN_URL });
  await owner.connect();
  try {
    expect((await owner.query('select rolname from pg_roles where rolname = any($1)', [schemas])).rows).toEqual([]);
  } finally {
    await owner.end();
  }
});

import { once } from 'node:events';
import Docker from 'dockerode';
import IORedis from 'ioredis';
import type { Knex } from 'knex';
import { StepConflictError, faultKind, isUniqueViolation } from '../jobs/faults';
import { createDb } from '../lib/db';
import { loadConfig } from '../lib/config';
import { createRedis } from '../lib/redis';
import { SandboxDriver } from '../sandbox/driver';
import { SandboxGoneError } from '../sandbox/errors';
import { freePort, PrivatePostgres, PrivateRedis } from './services';
import { waitFor } from './waitFor';

// Each class of failure, produced for real, must be told apart the way jobs/faults.ts promises:
// a service's fault is retried until it is back; a defect of ours is not retried for ever.

let postgres: PrivatePostgres;
let db: Knex;
beforeAll(async () => {
  postgres = await PrivatePostgres.create();
  db = createDb(postgres.url(), 'public', { poolMax: 2 });
});
afterAll(async () => {
  await db?.destroy();
  await postgres?.destroy();
});

const failure = (work: () => Promise<unknown>) => work().then(() => undefined, (error: unknown) => error);

test('Postgres stopped, restarting in immediate mode, or refusing connections is an infrastructure fault', async () => {
  await db.raw('select 1');

  // A query cut off by an immediate restart.
  const sleeping = failure(() => db.raw('select pg_sleep(10)'));
  await waitFor(async () => (await db.raw(`select 1 from pg_stat_activity where query = 'select pg_sleep(10)' and state = 'active'`)).rows.length === 1);
  const restarting = postgres.restartImmediate();
  const cut = await sleeping;
  await restarting;
  expect(cut).toBeInstanceOf(Error);
  expect(faultKind(cut)).toBe('infrastructure');

  // Queries while it is down.
  await postgres.stop('immediate');
  try {
    const refused = await failure(() => db.raw('select 1'));
    expect(faultKind(refused)).toBe('infrastructure');
  } finally {
    await postgres.start();
  }

  // And a server that is not there at all.
  const nowhere = createDb(`postgres://mission:mission@127.0.0.1:${await freePort()}/mission`, 'public', { poolMax: 1 });
  try {
    expect(faultKind(await failure(() => nowhere.raw('select 1')))).toBe('infrastructure');
  } finally {
    await nowhere.destroy();
  }
  // Once it is back, the pool recovers by itself.
  await expect(db.raw('select 1')).resolves.toBeDefined();
});

test('Redis killed is an infrastructure fault, for a producer that fails fast and for a client that retries', async () => {
  const redis = await PrivateRedis.start();
  const producer = createRedis(loadConfig({ REDIS_URL: redis.url }), 'producer');
  producer.on('error', () => undefined);
  const plain = new IORedis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  plain.on('error', () => undefined);
  try {
    await Promise.all([once(producer, 'ready'), plain.ping()]);
    await redis.kill();

    expect(faultKind(await failure(() => producer.set('k', 'v')))).toBe('infrastructure');
    expect(faultKind(await failure(() => plain.set('k', 'v')))).toBe('infrastructure');
  } finally {
    producer.disconnect();
    plain.disconnect();
    await redis.kill();
  }
});

test('Docker away, or a sandbox that cannot start, is an infrastructure fault; a sandbox the mission killed is not', async () => {
  const away = new Docker({ socketPath: '/nonexistent/docker.sock' });
  expect(faultKind(await failure(() => away.listContainers()))).toBe('infrastructure');

  const driver = new SandboxDriver(new Docker(), { image: 'mission-sandbox:does-not-exist', runtime: 'runsc', owner: 'test-faults', fleet: 'test-faults' });
  try {
    const cannotStart = await failure(() => driver.start());
    expect(cannotStart).toMatchObject({ code: 'ERR_SANDBOX_START' });
    expect(faultKind(cannotStart)).toBe('infrastructure');
  } finally {
    driver.close();
  }

  expect(faultKind(new SandboxGoneError('out of memory (the memory limit was reached)'))).toBe('defect');
});

test('a duplicate step is a conflict between two runs; a bug of ours is a defect', async () => {
  await db.raw('create table if not exists t (id int primary key)');
  await db('t').insert({ id: 1 });
  const duplicate = await failure(() => db('t').insert({ id: 1 }));
  expect(isUniqueViolation(duplicate)).toBe(true);
  expect(faultKind(duplicate)).toBe('defect');
  expect(faultKind(new StepConflictError('m', 3, { cause: duplicate }))).toBe('conflict');

  const bug = await failure(async () => (undefined as unknown as { field: number }).field);
  expect(bug).toBeInstanceOf(TypeError);
  expect(faultKind(bug)).toBe('defect');
  expect(faultKind(await failure(() => db.raw("select 'a\\u0000'::jsonb")))).toBe('defect');
});

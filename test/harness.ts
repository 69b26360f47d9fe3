import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import Docker from 'dockerode';
import { Cluster } from 'ioredis';
import type { Knex } from 'knex';
import { Client } from 'pg';
import { loadConfig, localSandboxImage, type Config } from '../lib/config';
import { createDb } from '../lib/db';
import { createLogger, type Logger } from '../lib/logger';
import { createMissionQueue } from '../lib/queue';
import { createRedis } from '../lib/redis';
import { migrateToLatest } from '../migrations';
import { OWNER_LABEL, SandboxDriver, type SandboxLimits } from '../sandbox/driver';

export const docker = new Docker();

/**
 * A private corner of the real services for one test file: its own Postgres schema, its own
 * hash-tagged BullMQ prefix and its own sandbox owner label. `cleanup()` removes all three.
 */
export interface TestEnv {
  config: Config;
  db: Knex;
  owner: string;
  cleanup(): Promise<void>;
}

export async function createTestEnv(overrides: Record<string, string> = {}): Promise<TestEnv> {
  const tag = randomBytes(4).toString('hex');
  const settings = {
    ...process.env,
    DATABASE_SCHEMA: `test_${tag}`,
    QUEUE_PREFIX: `{test-${tag}}`,
    PORT: '0',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    // Fixed, so each test knows how many missions run at once; worker.concurrency.alone.test.ts tries `auto`.
    WORKER_CONCURRENCY: '4',
    ...overrides,
  };
  const pooled = loadConfig(settings).DATABASE_POOLED;
  const config = loadConfig(pooled ? { ...settings, ...(await roleForSchema(loadConfig(settings))) } : settings);
  const db = createDb(config.DATABASE_URL, config.DATABASE_SCHEMA, { poolMax: 4, pooled });
  await migrateToLatest(db, config.DATABASE_SCHEMA);
  const owner = `test-${tag}`;
  return {
    config,
    db,
    owner,
    async cleanup() {
      await removeSandboxes(owner);
      await db.raw('drop schema if exists ?? cascade', [config.DATABASE_SCHEMA]);
      await db.destroy();
      if (pooled) await dropRole(loadConfig(settings), config.DATABASE_SCHEMA);
      await deleteKeys(config, `${config.QUEUE_PREFIX}:*`);
    },
  };
}

/**
 * Behind a transaction-mode pooler nothing may be SET on a connection, so a test file's schema is the search_path
 * of a role of its own (as an operator would give each deployment its role), made here as the database's owner.
 */
async function roleForSchema(config: Config, schema = config.DATABASE_SCHEMA): Promise<Record<string, string>> {
  const password = randomBytes(12).toString('hex');
  const database = new URL(config.DATABASE_LISTEN_URL).pathname.slice(1);
  await asOwner(config, [
    `create role "${schema}" login password '${password}'`,
    `grant "${schema}" to current_user`,
    `grant create on database "${database}" to "${schema}"`,
    `create schema "${schema}" authorization "${schema}"`,
    `alter role "${schema}" set search_path = "${schema}"`,
  ]);
  const as = (url: string) => Object.assign(new URL(url), { username: schema, password }).toString();
  return { DATABASE_URL: as(config.DATABASE_URL), DATABASE_LISTEN_URL: as(config.DATABASE_LISTEN_URL) };
}

async function dropRole(config: Config, role: string): Promise<void> {
  await asOwner(config, [`drop owned by "${role}"`, `drop role "${role}"`]);
}

/**
 * Runs statements in one transaction on a direct connection as the database's owner (DATABASE_LISTEN_URL is never
 * pooled). Test files run in parallel, and Postgres refuses two grants that meet on the database's row ("tuple
 * concurrently updated"), so each file's role changes wait for the others' under one advisory lock.
 */
async function asOwner(config: Config, statements: string[]): Promise<void> {
  const client = new Client({ connectionString: config.DATABASE_LISTEN_URL });
  await client.connect();
  try {
    await client.query('begin');
    await client.query("select pg_advisory_xact_lock(hashtext('test roles'))");
    for (const statement of statements) await client.query(statement);
    await client.query('commit');
  } finally {
    await client.end();
  }
}

export const testLogger = () => createLogger(process.env.LOG_LEVEL ?? 'silent', 'test');

/** A logger at debug level whose lines (after `redact`) are kept in `lines`, for tests about what is logged. */
export function capturedLogger(redact?: (line: string) => string): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
  return { logger: createLogger('debug', 'test', redact, destination), lines };
}

/** Sandboxes labelled with `owner`, running or not. */
export async function sandboxesOf(owner: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${OWNER_LABEL}=${owner}`] } });
}

/** Records when each sandbox of `owner` stopped (`die`) and was removed (`destroy`), by Docker's clock, until stopped. */
export async function watchSandboxes(owner: string): Promise<{ at(event: 'die' | 'destroy', containerId: string): number | undefined; stop(): void }> {
  const seen = new Map<string, number>();
  const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['die', 'destroy'], label: [`${OWNER_LABEL}=${owner}`] } })) as NodeJS.ReadableStream & { destroy(): void };
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines.filter(Boolean)) {
      const event = JSON.parse(line) as { id: string; Action: string; timeNano: number };
      seen.set(`${event.Action} ${event.id}`, Math.floor(event.timeNano / 1e6));
    }
  });
  return {
    at: (event, containerId) => [...seen].find(([key]) => key.startsWith(`${event} ${containerId}`))?.[1],
    stop: () => stream.destroy(),
  };
}

export async function removeSandboxes(owner: string): Promise<void> {
  for (const info of await sandboxesOf(owner)) {
    await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
  }
}

/** The keys matching `pattern`: on the one Redis, or on every primary of a Cluster. */
export async function scanKeys(config: Config, pattern: string): Promise<string[]> {
  const redis = createRedis(config, 'worker');
  const found: string[] = [];
  try {
    await redis.ping();
    for (const server of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
      for await (const keys of server.scanStream({ match: pattern, count: 500 }) as AsyncIterable<string[]>) found.push(...keys);
    }
  } finally {
    redis.disconnect();
  }
  return found;
}

/** Deletes the keys matching `pattern` (a test's prefix): they share its hash tag, so one DEL takes them. */
export async function deleteKeys(config: Config, pattern: string): Promise<void> {
  const keys = await scanKeys(config, pattern);
  if (keys.length === 0) return;
  const redis = createRedis(config, 'worker');
  try {
    for (let at = 0; at < keys.length; at += 500) await redis.del(...keys.slice(at, at + 500));
  } finally {
    redis.disconnect();
  }
}

/** How many mission jobs are waiting or running in BullMQ for this test environment. */
export async function pendingJobs(config: Config): Promise<number> {
  const connection = createRedis(config, 'worker');
  const queue = createMissionQueue(connection, config.QUEUE_PREFIX);
  try {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return Object.values(counts).reduce((sum, count) => sum + count, 0);
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/** Host processes in the sandbox's cgroup: gVisor's own and, under ptrace, one or more per process inside. */
export function hostProcessesOf(containerId: string): number {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(containerId);
      } catch {
        return false; // the process ended while we looked
      }
    }).length;
}

/** A driver of gVisor sandboxes labelled `owner`, outside any worker's fleet (so no worker's reaper judges them). */
export function standaloneDriver(owner: string, limits?: Partial<SandboxLimits>): SandboxDriver {
  return new SandboxDriver(docker, { image: localSandboxImage(), runtime: 'runsc', owner, fleet: 'test-standalone', limits });
}

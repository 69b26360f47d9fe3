import { execFileSync } from 'node:child_process';
import { loadConfig } from '../lib/config';
import { PgBouncer } from '../fleet/pgbouncer';
import { RedisCluster } from '../fleet/redis';

// `jest --config jest.pooled.config.js`: the end-to-end, SSE and idempotency files again, on Redis Cluster (three
// primaries) and on Postgres through PgBouncer in transaction mode, as many operators deploy them. The settings
// go into the environment the test processes inherit; test/harness.ts gives each test file a role of its own.
export default async function setUp(): Promise<void> {
  const config = loadConfig();
  const direct = new URL(config.DATABASE_URL);
  const cluster = await RedisCluster.start();
  const admin = { user: decodeURIComponent(direct.username), password: decodeURIComponent(direct.password) };
  const database = direct.pathname.slice(1);
  // Each test file's role is created and dropped by the harness, as the database's owner.
  execFileSync('runuser', ['-u', 'postgres', '--', 'psql', '-qc', `alter role "${admin.user}" createrole`], { stdio: 'pipe' });
  const bouncer = await PgBouncer.start({ host: direct.hostname, port: Number(direct.port || 5432), database }, admin);
  const pooled = new URL(direct);
  pooled.hostname = '127.0.0.1';
  pooled.port = String(bouncer.port);
  Object.assign(process.env, {
    REDIS_CLUSTER_NODES: cluster.nodeList,
    DATABASE_URL: pooled.toString(),
    DATABASE_LISTEN_URL: direct.toString(),
    DATABASE_POOLED: 'true',
  });
  Object.assign(globalThis, { pooledServices: { cluster, bouncer } });
}

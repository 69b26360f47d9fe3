import type { PgBouncer } from './pgbouncer';
import type { RedisCluster } from './redisTopologies';

export default async function tearDown(): Promise<void> {
  const { cluster, bouncer } = (globalThis as unknown as { pooledServices: { cluster: RedisCluster; bouncer: PgBouncer } }).pooledServices;
  await bouncer.stop();
  await cluster.stop();
}

import type { PgBouncer } from '../fleet/pgbouncer';
import type { RedisCluster } from '../fleet/redis';

export default async function tearDown(): Promise<void> {
  const { cluster, bouncer } = (globalThis as unknown as { pooledServices: { cluster: RedisCluster; bouncer: PgBouncer } }).pooledServices;
  await bouncer.stop();
  await cluster.stop();
}

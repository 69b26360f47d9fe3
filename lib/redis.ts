import IORedis, { Cluster, type RedisOptions } from 'ioredis';
import type { Config } from './config';

/** A connection to the deployment's Redis: one server, a primary found through Sentinel, or a Cluster. */
export type Redis = IORedis | Cluster;

export type RedisSettings = Pick<Config, 'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_MASTER_NAME' | 'REDIS_CLUSTER_NODES'>;

/**
 * A connection for BullMQ and our own keys. Workers block on Redis and must wait out outages
 * (maxRetriesPerRequest: null); producers fail fast instead, so a request is never held while Redis is away.
 * Every key we use starts with the QUEUE_PREFIX hash tag, so in a Cluster they share one slot and every
 * multi-key command and script works there.
 */
export function createRedis(settings: RedisSettings, role: 'worker' | 'producer'): Redis {
  const options: RedisOptions = {
    ...credentials(settings.REDIS_URL),
    ...(role === 'worker' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 }),
    // A primary demoted to a replica (a failover while we kept our connection) refuses writes: reconnect, and
    // Sentinel or the Cluster says where the primary is now.
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
  };
  if (settings.REDIS_CLUSTER_NODES) {
    return new Cluster(settings.REDIS_CLUSTER_NODES, { redisOptions: options, enableOfflineQueue: role === 'worker' });
  }
  if (settings.REDIS_SENTINELS) {
    // A connection lost with its primary asks the sentinels again. (ioredis' failoverDetector would move sooner,
    // but its connections to the sentinels outlive disconnect() in this version: the process never exits.)
    return new IORedis({ ...options, sentinels: settings.REDIS_SENTINELS, name: settings.REDIS_MASTER_NAME });
  }
  return new IORedis(settings.REDIS_URL, options);
}

function credentials(url: string): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  const { username, password, protocol } = new URL(url);
  return {
    ...(username && { username: decodeURIComponent(username) }),
    ...(password && { password: decodeURIComponent(password) }),
    ...(protocol === 'rediss:' && { tls: {} }),
  };
}

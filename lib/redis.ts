import IORedis, { type Redis } from 'ioredis';

export type { Redis };

/**
 * A connection for BullMQ. Workers block on Redis and must wait out outages (maxRetriesPerRequest: null);
 * producers fail fast instead, so a request is never held while Redis is away.
 */
export function createRedis(url: string, role: 'worker' | 'producer'): Redis {
  return role === 'worker'
    ? new IORedis(url, { maxRetriesPerRequest: null })
    : new IORedis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000 });
}

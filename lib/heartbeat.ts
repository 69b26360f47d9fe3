import type { Redis } from '../lib/redis';

export interface Heartbeat {
  isAlive(workerId: string): Promise<boolean>;
  stop(): Promise<void>;
}

/** The sorted set of the fleet's workers, scored by when their heartbeat expires. */
export const workersKey = (prefix: string) => `${prefix}:workers`;

/** How many workers of the fleet have a live heartbeat (for /readyz). */
export async function liveWorkers(redis: Redis, prefix: string): Promise<number> {
  return redis.zcount(workersKey(prefix), Date.now(), '+inf');
}

/**
 * Marks this worker alive in Redis with a key that expires unless refreshed, so any worker can tell whether
 * the owner of a sandbox it finds still exists; and in the fleet's set, so the API can tell how many are alive.
 */
export async function startHeartbeat(redis: Redis, prefix: string, workerId: string, ttlMs = 15_000): Promise<Heartbeat> {
  const key = (id: string) => `${prefix}:worker:${id}`;
  const beat = async () => {
    const now = Date.now();
    await redis
      .multi()
      .set(key(workerId), String(now), 'PX', ttlMs)
      .zadd(workersKey(prefix), now + ttlMs, workerId)
      .zremrangebyscore(workersKey(prefix), '-inf', now)
      .exec();
  };
  await beat();
  const timer = setInterval(() => void beat().catch(() => undefined), ttlMs / 3);
  timer.unref();
  let stopped: Promise<void> | undefined;
  return {
    isAlive: async (id) => (await redis.exists(key(id))) === 1,
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await redis.multi().del(key(workerId)).zrem(workersKey(prefix), workerId).exec();
      })();
      return stopped;
    },
  };
}

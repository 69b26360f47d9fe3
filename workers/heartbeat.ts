import type { Redis } from '../lib/redis';

export interface Heartbeat {
  isAlive(workerId: string): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * Marks this worker alive in Redis with a key that expires unless refreshed, so any worker can tell whether
 * the owner of a sandbox it finds still exists.
 */
export async function startHeartbeat(redis: Redis, prefix: string, workerId: string, ttlMs = 15_000): Promise<Heartbeat> {
  const key = (id: string) => `${prefix}:worker:${id}`;
  const beat = () => redis.set(key(workerId), String(Date.now()), 'PX', ttlMs);
  await beat();
  const timer = setInterval(() => void beat().catch(() => undefined), ttlMs / 3);
  timer.unref();
  let stopped: Promise<void> | undefined;
  return {
    isAlive: async (id) => (await redis.exists(key(id))) === 1,
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await redis.del(key(workerId));
      })();
      return stopped;
    },
  };
}

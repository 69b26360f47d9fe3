import type { Redis } from './redis';

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

/** What a worker says of itself with each heartbeat, for the console's fleet page. */
export interface WorkerStatus {
  id: string;
  /** When it beat last (ms since the epoch). */
  at: number;
  [detail: string]: unknown;
}

const workerKey = (prefix: string, id: string) => `${prefix}:worker:${id}`;

/** The live workers and what each said of itself last. */
export async function fleetStatus(redis: Redis, prefix: string): Promise<WorkerStatus[]> {
  const ids = await redis.zrangebyscore(workersKey(prefix), Date.now(), '+inf');
  if (ids.length === 0) return [];
  const values = await redis.mget(ids.map((id) => workerKey(prefix, id)));
  return ids.map((id, at) => {
    const value = values[at];
    const parsed = value?.startsWith('{') ? (JSON.parse(value) as Record<string, unknown>) : {};
    return { ...parsed, id, at: Number(parsed.at ?? value ?? 0) };
  });
}

/**
 * Marks this worker alive in Redis with a key that expires unless refreshed, so any worker can tell whether
 * the owner of a sandbox it finds still exists; and in the fleet's set, so the API can tell how many are alive.
 * The key holds what `describe` says of the worker at each beat.
 */
export async function startHeartbeat(
  redis: Redis,
  prefix: string,
  workerId: string,
  ttlMs = 15_000,
  describe: () => Record<string, unknown> = () => ({}),
): Promise<Heartbeat> {
  const key = (id: string) => workerKey(prefix, id);
  const beat = async () => {
    const now = Date.now();
    await redis
      .multi()
      .set(key(workerId), JSON.stringify({ ...describe(), at: now }), 'PX', ttlMs)
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

import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { Redis } from '../lib/redis';

// One round trip per request: count the hit, start the window on the first one, say when it ends.
const HIT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {hits, redis.call('PTTL', KEYS[1])}`;

type WithHit = Redis & { rateLimitHit(key: string, windowMs: number): Promise<[number, number]> };

/**
 * A fixed-window counter per key in Redis. When Redis does not answer, the request is allowed: submissions
 * must be accepted during an outage, since they are committed in Postgres, not Redis.
 */
export class RedisWindowStore implements Store {
  private windowMs = 60_000;
  private readonly redis: WithHit;

  constructor(
    redis: Redis,
    readonly prefix: string,
  ) {
    // ioredis sends EVALSHA and falls back to EVAL by itself: there is no script to load up front.
    redis.defineCommand('rateLimitHit', { numberOfKeys: 1, lua: HIT });
    this.redis = redis as WithHit;
  }

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const reply = await this.redis.rateLimitHit(this.prefix + key, this.windowMs).catch(() => undefined);
    if (!reply) return { totalHits: 1, resetTime: new Date(Date.now() + this.windowMs) };
    const [hits, ttl] = reply;
    return { totalHits: hits, resetTime: new Date(Date.now() + Math.max(ttl, 0)) };
  }

  async decrement(key: string): Promise<void> {
    await this.redis.decr(this.prefix + key).catch(() => undefined);
  }

  async resetKey(key: string): Promise<void> {
    await this.redis.del(this.prefix + key).catch(() => undefined);
  }
}

import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { Redis } from '../lib/redis';

/**
 * A fixed-window counter per key in Redis: INCR, PEXPIRE NX and PTTL in one pipelined round trip, no scripts
 * to load. When Redis does not answer the request is allowed: submissions must be accepted during an outage,
 * since they are committed in Postgres, not Redis.
 */
export class RedisWindowStore implements Store {
  private windowMs = 60_000;

  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
  ) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const redisKey = this.prefix + key;
    const replies = await this.redis
      .multi()
      .incr(redisKey)
      .pexpire(redisKey, this.windowMs, 'NX')
      .pttl(redisKey)
      .exec()
      .catch(() => null);
    if (!replies || replies.some(([error]) => error)) return { totalHits: 1, resetTime: new Date(Date.now() + this.windowMs) };
    const [[, hits], , [, ttl]] = replies as [[null, number], unknown, [null, number]];
    return { totalHits: hits, resetTime: new Date(Date.now() + Math.max(ttl, 0)) };
  }

  async decrement(key: string): Promise<void> {
    await this.redis.decr(this.prefix + key).catch(() => undefined);
  }

  async resetKey(key: string): Promise<void> {
    await this.redis.del(this.prefix + key).catch(() => undefined);
  }
}

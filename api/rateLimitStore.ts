import type { ClientRateLimitInfo, Options, Store } from 'express-rate-limit';
import type { Redis } from '../lib/redis';

// Take `count` tickets of the window at once, start the window with the first ones, say when it ends.
const LEASE = `
local last = redis.call('INCRBY', KEYS[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {last, redis.call('PTTL', KEYS[1])}`;

type WithLease = Redis & { rateLimitLease(key: string, windowMs: number, count: number): Promise<[number, number]> };

/** Tickets of one window this process holds: `next` up to `last`, numbered across every process. */
interface Block {
  next: number;
  last: number;
  endsAt: number;
}

/** Keys name the limit (`<limit>:<tenant>`), so the store knows how large a block it may take. */
export const rateLimitKey = (limit: number, tenantId: string): string => `${limit}:${tenantId}`;

/** A hundredth of the limit, between 1 and 50: small limits stay exact, large ones cost a round trip per block. */
const blockSize = (key: string): number => Math.min(50, Math.floor(Number.parseInt(key, 10) / 100)) || 1;

/**
 * A fixed-window counter per key in Redis, leased in blocks: each request takes the next ticket of the block
 * this process holds, and only an exhausted block costs a round trip. A ticket number above the limit is a
 * refusal, so every process together never admits more than the limit in a window; tickets a process leased
 * but did not use lapse with their window, so the others may refuse while up to (processes × (block − 1))
 * requests of the limit are still unused. When Redis does not answer, the request is allowed: submissions
 * must be accepted during an outage, since they are committed in Postgres, not Redis.
 */
export class RedisWindowStore implements Store {
  private windowMs = 60_000;
  private readonly redis: WithLease;
  private readonly blocks = new Map<string, Block>();
  private readonly leases = new Map<string, Promise<boolean>>();

  constructor(
    redis: Redis,
    readonly prefix: string,
  ) {
    // ioredis sends EVALSHA and falls back to EVAL by itself: there is no script to load up front.
    redis.defineCommand('rateLimitLease', { numberOfKeys: 1, lua: LEASE });
    this.redis = redis as WithLease;
  }

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    for (;;) {
      const block = this.blocks.get(key);
      if (block && block.next <= block.last && Date.now() < block.endsAt) {
        return { totalHits: block.next++, resetTime: new Date(block.endsAt) };
      }
      if (!(await this.lease(key))) return { totalHits: 1, resetTime: new Date(Date.now() + this.windowMs) };
    }
  }

  async decrement(key: string): Promise<void> {
    await this.redis.decr(this.prefix + key).catch(() => undefined);
  }

  async resetKey(key: string): Promise<void> {
    this.blocks.delete(key);
    await this.redis.del(this.prefix + key).catch(() => undefined);
  }

  /** One lease per key at a time: requests arriving meanwhile wait for its block instead of taking their own. */
  private lease(key: string): Promise<boolean> {
    let pending = this.leases.get(key);
    if (!pending) {
      pending = this.takeBlock(key).finally(() => this.leases.delete(key));
      this.leases.set(key, pending);
    }
    return pending;
  }

  private async takeBlock(key: string): Promise<boolean> {
    const size = blockSize(key);
    const reply = await this.redis.rateLimitLease(this.prefix + key, this.windowMs, size).catch(() => undefined);
    if (!reply) return false;
    const [last, ttl] = reply;
    this.blocks.set(key, { next: last - size + 1, last, endsAt: Date.now() + Math.max(ttl, 0) });
    return true;
  }
}

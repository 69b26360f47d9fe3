import type { Redis } from '../lib/redis';

// Leases in a sorted set per tenant, scored by expiry: a worker that dies stops renewing, and its leases
// lapse on their own instead of shrinking the tenant's share for ever.
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`;

type WithAcquire = Redis & { tenantSlot(key: string, now: number, expiry: number, missionId: string, cap: number, ttl: number): Promise<number> };

/** Caps the missions each tenant has running across the whole fleet, so one tenant's batch cannot starve another. */
export class TenantSlots {
  private readonly redis: WithAcquire;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly cap: number,
    private readonly leaseMs: number,
  ) {
    redis.defineCommand('tenantSlot', { numberOfKeys: 1, lua: ACQUIRE });
    this.redis = redis as WithAcquire;
  }

  /** Takes (or renews) a running slot for the mission; false when the tenant is at its cap. */
  async acquire(tenantId: string, missionId: string): Promise<boolean> {
    const now = Date.now();
    return (await this.redis.tenantSlot(this.key(tenantId), now, now + this.leaseMs, missionId, this.cap, this.leaseMs * 2)) === 1;
  }

  async release(tenantId: string, missionId: string): Promise<void> {
    await this.redis.zrem(this.key(tenantId), missionId);
  }

  private key(tenantId: string): string {
    return `${this.prefix}:tenant-running:${tenantId}`;
  }
}

import type { Redis } from '../lib/redis';

/** What a tenant alone on the fleet may hold: more than any fleet runs. */
const UNCAPPED = 1_000_000_000;

// Per tenant, a hash of how many running slots each worker holds, and a sorted set of the holders scored by when
// their lease expires: a worker that dies stops renewing, and its slots lapse instead of shrinking the tenant's
// share for ever. Leasing is atomic, so the slots held across the fleet never exceed the cap. The fleet's tenants
// that asked for or held slots lately (KEYS[3], scored by when that lapses): a tenant alone there is not capped.
const LEASE = `
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, holder in ipairs(expired) do redis.call('HDEL', KEYS[2], holder) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[1] + ARGV[6], ARGV[7])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
local cap = tonumber(ARGV[5])
if redis.call('ZCARD', KEYS[3]) == 1 then cap = ${UNCAPPED} end
local held = 0
for _, count in ipairs(redis.call('HVALS', KEYS[2])) do held = held + tonumber(count) end
local grant = math.min(tonumber(ARGV[4]), cap - held)
if grant <= 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[3], grant)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return grant`;

const GIVE_BACK = `
local left = redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2]))
if left <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
return left`;

// Renews this worker's lease; answers what it still holds (0 when its lease was lost, e.g. Redis restarted empty).
const RENEW = `
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')`;

type WithScripts = Redis & {
  tenantLease(holders: string, counts: string, tenants: string, now: number, expiry: number, worker: string, want: number, cap: number, ttl: number, tenant: string): Promise<number>;
  tenantGiveBack(holders: string, counts: string, worker: string, count: number): Promise<number>;
  tenantRenew(holders: string, counts: string, tenants: string, expiry: number, worker: string, ttl: number, contendingUntil: number, tenant: string): Promise<number>;
};

export interface TenantSlotsOptions {
  /** Slots leased from Redis at once (more when more missions wait); the worker hands them out without asking again. Default 8. */
  block: number;
  /** A slot unused this long goes back to the fleet. Default 1 s. */
  idleReturnMs: number;
}

interface Allowance {
  held: number;
  used: number;
  /** Acquires waiting for a slot: the next lease asks for at least as many. */
  waiting: number;
  /** A lease request under way, resolving to the slots it got; other acquires of the tenant wait for it. */
  leasing?: Promise<number>;
  returnTimer?: NodeJS.Timeout;
}

/**
 * Caps the missions each tenant has running across the whole fleet, so one tenant's batch cannot starve another.
 * The cap holds while another tenant has asked for or held slots within the last two leases; a tenant alone on
 * the fleet runs as many as the workers take. When another comes, the first takes no new slot until it is back
 * under the cap: its running missions end as they would, and the newcomer's start meanwhile.
 * A worker leases running slots from Redis in blocks and hands them to its missions locally, so most missions
 * cost no Redis round trip; it renews its leases every third of `leaseMs` and gives unused slots back after
 * `idleReturnMs` (and all of them on close).
 *
 * How exact: the slots held across the fleet never exceed the cap, so neither do the missions running. A tenant
 * may run fewer than its cap for a moment while other workers hold slots they do not use (at most a block less
 * one per worker, for at most `idleReturnMs`), and after a Redis that lost its data, missions already running
 * keep running while new leases start from zero.
 */
export class TenantSlots {
  private readonly redis: WithScripts;
  private readonly options: TenantSlotsOptions;
  private readonly allowances = new Map<string, Allowance>();
  private readonly renewal: NodeJS.Timeout;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly workerId: string,
    private readonly cap: number,
    private readonly leaseMs: number,
    options: Partial<TenantSlotsOptions> = {},
  ) {
    this.options = { block: 8, idleReturnMs: 1_000, ...options };
    redis.defineCommand('tenantLease', { numberOfKeys: 3, lua: LEASE });
    redis.defineCommand('tenantGiveBack', { numberOfKeys: 2, lua: GIVE_BACK });
    redis.defineCommand('tenantRenew', { numberOfKeys: 3, lua: RENEW });
    this.redis = redis as WithScripts;
    this.renewal = setInterval(() => void this.renew().catch(() => undefined), leaseMs / 3);
    this.renewal.unref();
  }

  /** Takes a running slot for one of the tenant's missions; false when the tenant is at its cap. */
  async acquire(tenantId: string): Promise<boolean> {
    const allowance = this.allowanceOf(tenantId);
    allowance.waiting++;
    try {
      // Until a slot is free here, or the fleet holds the whole cap: a block other acquires used up is no refusal.
      while (allowance.used >= allowance.held) {
        allowance.leasing ??= this.lease(tenantId, allowance).finally(() => (allowance.leasing = undefined));
        if ((await allowance.leasing) === 0) return false;
      }
      allowance.used++;
      clearTimeout(allowance.returnTimer);
      return true;
    } finally {
      allowance.waiting--;
    }
  }

  /** Gives a mission's slot back to this worker; unused slots go back to the fleet after `idleReturnMs`. */
  release(tenantId: string): void {
    const allowance = this.allowances.get(tenantId);
    if (!allowance || allowance.used === 0) return;
    allowance.used--;
    clearTimeout(allowance.returnTimer);
    allowance.returnTimer = setTimeout(() => void this.giveBackSpare(tenantId).catch(() => undefined), this.options.idleReturnMs);
    allowance.returnTimer.unref();
  }

  /** Gives every slot back. */
  async close(): Promise<void> {
    clearInterval(this.renewal);
    await Promise.allSettled(
      [...this.allowances].map(async ([tenantId, allowance]) => {
        clearTimeout(allowance.returnTimer);
        if (allowance.held > 0) await this.redis.tenantGiveBack(...this.keys(tenantId), this.workerId, allowance.held);
        this.allowances.delete(tenantId);
      }),
    );
  }

  private allowanceOf(tenantId: string): Allowance {
    let allowance = this.allowances.get(tenantId);
    if (!allowance) this.allowances.set(tenantId, (allowance = { held: 0, used: 0, waiting: 0 }));
    return allowance;
  }

  private async lease(tenantId: string, allowance: Allowance): Promise<number> {
    const now = Date.now();
    const want = Math.max(this.options.block, allowance.waiting);
    const granted = await this.redis.tenantLease(...this.keys(tenantId), this.tenantsKey, now, now + this.leaseMs, this.workerId, want, this.cap, this.leaseMs * 2, tenantId);
    allowance.held += granted;
    return granted;
  }

  private async giveBackSpare(tenantId: string): Promise<void> {
    const allowance = this.allowances.get(tenantId);
    if (!allowance) return;
    const spare = allowance.held - allowance.used;
    if (spare <= 0) return;
    allowance.held -= spare;
    await this.redis.tenantGiveBack(...this.keys(tenantId), this.workerId, spare);
    if (allowance.held === 0 && allowance.used === 0 && !allowance.leasing) this.allowances.delete(tenantId);
  }

  private async renew(): Promise<void> {
    const expiry = Date.now() + this.leaseMs;
    for (const [tenantId, allowance] of this.allowances) {
      if (allowance.held === 0) continue;
      // A lease lost in Redis counts for nothing any more: new missions lease again.
      const renewed = await this.redis.tenantRenew(...this.keys(tenantId), this.tenantsKey, expiry, this.workerId, this.leaseMs * 2, Date.now() + this.leaseMs * 2, tenantId);
      allowance.held = Math.max(allowance.used, renewed);
    }
  }

  private get tenantsKey(): string {
    return `${this.prefix}:tenants-contending`;
  }

  private keys(tenantId: string): [holders: string, counts: string] {
    return [`${this.prefix}:tenant-holders:${tenantId}`, `${this.prefix}:tenant-slots:${tenantId}`];
  }
}

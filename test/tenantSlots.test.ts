import { loadConfig } from '../lib/config';
import { createRedis } from '../lib/redis';
import { TenantSlots } from '../workers/tenantSlots';
import { deleteKeys } from './harness';
import { waitFor } from './waitFor';

// Two workers' allowances against the real Redis: slots are leased in blocks, handed out locally, and the cap
// holds for the fleet whatever the blocks.
const config = loadConfig();
const prefix = `{test-slots-${process.pid}}`;
const redis = createRedis(config, 'worker');
// Caps hold while another tenant contends: this one holds a slot throughout (the last test goes without).
const contender = new TenantSlots(redis, prefix, 'worker-contender', 1, 10_000);
beforeAll(async () => {
  expect(await contender.acquire('contender')).toBe(true);
});
afterAll(async () => {
  await contender.close();
  await deleteKeys(config, `${prefix}:*`);
  redis.disconnect();
});

const take = async (slots: TenantSlots, count: number, tenant = 'tenant') => {
  let granted = 0;
  for (let i = 0; i < count; i++) if (await slots.acquire(tenant)) granted++;
  return granted;
};

test('two workers never hold more than the cap together; a slot left unused goes back to the fleet', async () => {
  const a = new TenantSlots(redis, prefix, 'worker-a', 5, 10_000, { block: 4, idleReturnMs: 100 });
  const b = new TenantSlots(redis, prefix, 'worker-b', 5, 10_000, { block: 4, idleReturnMs: 100 });
  try {
    expect(await take(a, 3)).toBe(3); // one lease of 4: three used, one spare
    expect(await take(b, 3)).toBe(1); // only one left for the fleet
    expect(await take(a, 2)).toBe(1); // its own spare, then nothing
    expect(Number(await redis.hget(`${prefix}:tenant-slots:tenant`, 'worker-a')) + Number(await redis.hget(`${prefix}:tenant-slots:tenant`, 'worker-b'))).toBe(5);

    a.release('tenant');
    a.release('tenant');
    // After idleReturnMs, the two slots a no longer uses go back to the fleet: a holds two in Redis.
    await waitFor(async () => (await redis.hget(`${prefix}:tenant-slots:tenant`, 'worker-a')) === '2');

    expect(await take(b, 3)).toBe(2);
  } finally {
    await a.close();
    await b.close();
  }
  expect(await redis.exists(`${prefix}:tenant-slots:tenant`)).toBe(0);
});

test("a dead worker's slots lapse when its lease expires", async () => {
  const dead = new TenantSlots(redis, prefix, 'worker-dead', 2, 300, { block: 2 });
  const alive = new TenantSlots(redis, prefix, 'worker-alive', 2, 10_000, { block: 2 });
  try {
    expect(await take(dead, 2)).toBe(2);
    // It stops renewing (as a killed process would) and never gives them back.
    (dead as unknown as { renewal: NodeJS.Timeout }).renewal.close();
    expect(await take(alive, 1)).toBe(0);
    // Leases expire by the holder's clock, this process's own: wait until the dead worker's has passed.
    await waitFor(async () => Date.now() > Number(await redis.zscore(`${prefix}:tenant-holders:tenant`, 'worker-dead')));
    expect(await take(alive, 2)).toBe(2);
  } finally {
    await alive.close();
  }
});

test('missions arriving together all get a slot below the cap, and exactly the cap at it', async () => {
  const below = new TenantSlots(redis, prefix, 'worker-burst', 1_000, 10_000, { block: 4 });
  const at = new TenantSlots(redis, prefix, 'worker-capped', 7, 10_000, { block: 4 });
  try {
    // More acquires than a block, all waiting on the same lease: those the block cannot serve lease again.
    const granted = await Promise.all(Array.from({ length: 50 }, () => below.acquire('burst')));
    expect(granted.filter(Boolean)).toHaveLength(50);
    const capped = await Promise.all(Array.from({ length: 20 }, () => at.acquire('capped')));
    expect(capped.filter(Boolean)).toHaveLength(7);
  } finally {
    await below.close();
    await at.close();
  }
});

test('a tenant alone on the fleet is not capped; once another asks for slots, it takes none until back under its cap', async () => {
  const alonePrefix = `{test-slots-alone-${process.pid}}`;
  const first = new TenantSlots(redis, alonePrefix, 'worker-first', 3, 10_000, { block: 4 });
  const second = new TenantSlots(redis, alonePrefix, 'worker-second', 3, 10_000, { block: 4 });
  try {
    expect(await take(first, 10, 'alone')).toBe(10);
    // Another tenant asks: it gets its share at once; the first tenant, far over the cap, gets no new lease (only
    // the two spare slots of its last block of four).
    expect(await take(second, 1, 'newcomer')).toBe(1);
    expect(await take(first, 3, 'alone')).toBe(2);
    for (let i = 0; i < 12; i++) first.release('alone');
    // Its spare slots go back after idleReturnMs (1 s); 10 s for a loaded machine.
    await waitFor(async () => (await redis.hget(`${alonePrefix}:tenant-slots:alone`, 'worker-first')) === null, 11_000, 'spare slots back');
    expect(await take(first, 5, 'alone')).toBe(3);
  } finally {
    await first.close();
    await second.close();
    await deleteKeys(config, `${alonePrefix}:*`);
  }
});

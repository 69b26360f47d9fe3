import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createTenant, usePlatform } from './platform';
import { waitFor } from './waitFor';

// A tenant's batch names its own model hosts, and the nameserver never answers. Alone: it points this machine's
// resolver at a silent server for the duration (so no other test resolves a name meanwhile).
const RESOLV_CONF = '/etc/resolv.conf';
const SILENT = '127.0.0.2';
const context = usePlatform({ worker: false });
let kept: string;
let silent: Socket;
const asked = new Set<string>();

/** The name a DNS query asks for: its labels from byte 12 on. */
function queriedName(packet: Buffer): string {
  const labels: string[] = [];
  for (let at = 12; at < packet.length && packet[at]! > 0; at += packet[at]! + 1) labels.push(packet.subarray(at + 1, at + 1 + packet[at]!).toString());
  return labels.join('.');
}

beforeAll(async () => {
  silent = createSocket('udp4').on('message', (packet) => asked.add(queriedName(packet)));
  silent.bind(53, SILENT);
  await once(silent, 'listening');
  kept = readFileSync(RESOLV_CONF, 'utf8');
  writeFileSync(RESOLV_CONF, `nameserver ${SILENT}\noptions timeout:5 attempts:1\n`);
});
afterAll(() => {
  if (kept !== undefined) writeFileSync(RESOLV_CONF, kept);
  silent?.close();
});

test("a batch naming 1,000 URLs on 10 unresolvable hosts is refused, costs one lookup, and leaves the process's own lookups free", async () => {
  const tenant = await createTenant(context.platform, 'silent-dns');
  const tenantId = ((await context.env.db('tenants').where({ name: 'silent-dns' }).first('id')) as { id: string }).id;
  expect((await context.platform.request('PATCH', `/v1/admin/tenants/${tenantId}`, { allow_llm_base_url: true })).status).toBe(200);
  const missions = Array.from({ length: 1_000 }, (_, at) => ({ goal: 'own model', policy: 'openai', llm: { base_url: `https://h${at % 10}.silent.test/v1/m${at}`, model: 'm' } }));

  const order: string[] = [];
  const submitted = context.platform.request('POST', '/v1/missions/batch', { missions }, tenant).then((response) => (order.push('batch refused'), response));
  // A lookup of the process's own, from /etc/hosts, on the same pool of threads while the tenant's lookups hang.
  await waitFor(() => asked.size > 0, 10_000, 'the tenant lookups reach the silent nameserver');
  await lookup('localhost').then(() => order.push('own lookup answered'));
  const response = await submitted;

  expect(response.status).toBe(400);
  expect(JSON.stringify(await response.json())).toMatch(/its host h\d\.silent\.test cannot be resolved/);
  expect(order).toEqual(['own lookup answered', 'batch refused']);
  // One lookup at a time: the other nine hosts timed out while waiting for a turn and were never sent.
  expect([...asked].filter((name) => name.endsWith('.silent.test'))).toHaveLength(1);
  expect(await context.env.db('missions').where({ tenant_id: tenantId }).count({ n: '*' })).toEqual([{ n: '0' }]);
});

test('a submission naming more than 10 hosts of its own is refused before any lookup', async () => {
  const tenant = await createTenant(context.platform, 'many-hosts');
  const tenantId = ((await context.env.db('tenants').where({ name: 'many-hosts' }).first('id')) as { id: string }).id;
  expect((await context.platform.request('PATCH', `/v1/admin/tenants/${tenantId}`, { allow_llm_base_url: true })).status).toBe(200);
  asked.clear();
  const missions = Array.from({ length: 11 }, (_, at) => ({ goal: 'own model', policy: 'openai', llm: { base_url: `https://many${at}.silent.test/v1`, model: 'm' } }));
  const response = await context.platform.request('POST', '/v1/missions/batch', { missions }, tenant);
  expect(response.status).toBe(400);
  expect(JSON.stringify(await response.json())).toMatch(/at most 10 hosts of the tenant's own \(this one names 11\)/);
  expect(asked.size).toBe(0);
});

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTenant, usePlatform } from './platform';
import { waitFor } from './waitFor';
import { startReceiver, type WebhookReceiver } from './webhookReceiver';

// One tenant's webhooks cannot crowd out another's: a cap on endpoints, and claims that go round the tenants.
const SLOW_ANSWER_MS = 1_000;
const POLL_MS = 100;
let healthy: WebhookReceiver;
let failing: Server;
let failingUrl: string;
beforeAll(async () => {
  healthy = await startReceiver();
  // A tenant's endpoint that takes a second to fail each delivery.
  failing = createServer((_req, res) => void setTimeout(() => res.writeHead(503).end('down'), SLOW_ANSWER_MS));
  failing.listen(0, '127.0.0.1');
  await once(failing, 'listening');
  failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  failing?.closeAllConnections();
  failing?.close();
  await healthy?.close();
});
const context = usePlatform({
  worker: false,
  env: () => ({ WEBHOOK_URL_ALLOWLIST: `${healthy.origin},${new URL(failingUrl).origin}`, WEBHOOK_POLL_MS: String(POLL_MS), WEBHOOKS_PER_TENANT: '20' }),
});

const subscribe = (url: string, headers: Record<string, string>) => context.platform.request('POST', '/v1/webhooks', { url, events: ['mission.ended'] }, headers);

test('a tenant registers at most WEBHOOKS_PER_TENANT endpoints, listed a page at a time', async () => {
  const tenant = await createTenant(context.platform, 'many-hooks');
  for (let i = 0; i < 20; i++) expect((await subscribe(`${healthy.url}?n=${i}`, tenant)).status).toBe(201);

  const refused = await subscribe(`${healthy.url}?n=20`, tenant);
  expect(refused.status).toBe(409);
  expect(await refused.json()).toMatchObject({ title: 'A tenant may register 20 webhook endpoints.' });

  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const response = await context.platform.request('GET', `/v1/webhooks?limit=7${cursor ? `&cursor=${cursor}` : ''}`, undefined, tenant);
    const page = (await response.json()) as { data: { url: string }[]; next_cursor: string | null };
    expect(page.data.length).toBeLessThanOrEqual(7);
    seen.push(...page.data.map((hook) => hook.url));
    cursor = page.next_cursor;
  } while (cursor);
  expect(new Set(seen).size).toBe(20);
});

test("1,000 deliveries due to one tenant's failing endpoint do not hold back another tenant's first attempt", async () => {
  const noisy = await createTenant(context.platform, 'noisy');
  const quiet = await createTenant(context.platform, 'quiet');
  const noisyHook = (await (await subscribe(failingUrl, noisy)).json()) as { id: string };
  const quietHook = (await (await subscribe(healthy.url, quiet)).json()) as { id: string; secret: string };
  healthy.secret = quietHook.secret;
  // The outbox as 1,000 ended missions of the noisy tenant would leave it, all due before the quiet one's.
  const due = (webhookId: string, secondsAgo: number) => ({
    id: `msg_${randomBytes(16).toString('hex')}`,
    webhook_id: webhookId,
    type: 'mission.ended',
    payload: { type: 'mission.ended', data: {} },
    next_attempt_at: new Date(Date.now() - secondsAgo * 1_000),
  });
  await context.env.db.batchInsert('webhook_deliveries', Array.from({ length: 1_000 }, (_, i) => due(noisyHook.id, 60 + i)), 500);
  await context.env.db('webhook_deliveries').insert(due(quietHook.id, 0));

  // In arrival order the quiet delivery would wait for 1,000 / 20 rounds of one-second failures (50 s); going round
  // the tenants it is in the next round: a poll, one slow round, and a margin for a loaded machine.
  await waitFor(() => healthy.received.length > 0, POLL_MS + SLOW_ANSWER_MS + 3_000, "the quiet tenant's first attempt");
  expect(healthy.accepted('mission.ended')).toHaveLength(1);
});

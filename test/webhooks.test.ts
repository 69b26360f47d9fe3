import { Webhook } from 'standardwebhooks';
import { createTenant, shell, usePlatform } from './platform';
import { waitFor } from './waitFor';
import { startReceiver, type WebhookReceiver } from './webhookReceiver';

// Signed webhooks from the outbox to a receiver on loopback (allow-listed by the operator, as it must be), which
// verifies each request with the standardwebhooks library. Retries come quickly here (0.2 s, doubling).
let receiver: WebhookReceiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver?.close());
const context = usePlatform({
  env: () => ({ WEBHOOK_URL_ALLOWLIST: receiver.origin, WEBHOOK_POLL_MS: '100', WEBHOOK_FIRST_RETRY_MS: '200', WORKER_CONCURRENCY: '4' }),
});

interface WebhookJson {
  id: string;
  url: string;
  events: string[];
  secret?: string;
  disabled_at: string | null;
  disabled_reason: string | null;
}

interface DeliveryJson {
  id: string;
  type: string;
  status: string;
  attempts: { attempt: number; response_status: number | null; error: string | null }[];
}

async function subscribe(events: string[], headers: Record<string, string> = {}): Promise<WebhookJson> {
  const response = await context.platform.request('POST', '/v1/webhooks', { url: receiver.url, events }, headers);
  expect(response.status).toBe(201);
  const webhook = (await response.json()) as WebhookJson;
  receiver.secret = webhook.secret;
  return webhook;
}

const remove = async (webhook: WebhookJson) => expect((await context.platform.request('DELETE', `/v1/webhooks/${webhook.id}`)).status).toBe(204);

async function submitBatch(missions: object[], headers: Record<string, string> = {}): Promise<{ batch_id: string; items: { id: string }[] }> {
  const response = await context.platform.request('POST', '/v1/missions/batch', { missions }, headers);
  expect(response.status).toBe(202);
  return (await response.json()) as { batch_id: string; items: { id: string }[] };
}

const deliveries = async (webhook: WebhookJson) =>
  ((await (await context.platform.request('GET', `/v1/webhooks/${webhook.id}/deliveries?limit=100`)).json()) as { data: DeliveryJson[] }).data;

const dataOf = (request: WebhookReceiver['received'][number]) => ('payload' in request.verified ? request.verified.payload.data : {});
const forBatch = (batchId: string, type: string) => receiver.accepted(type).filter((request) => dataOf(request).batch_id === batchId);

test('each mission and the batch are announced when they end, signed: the library verifies them, and refuses a tampered body or a late replay', async () => {
  const webhook = await subscribe(['mission.ended', 'batch.ended']);
  expect(webhook.secret).toMatch(/^whsec_/);
  expect(((await (await context.platform.request('GET', '/v1/webhooks')).json()) as { data: WebhookJson[] }).data.map((listed) => [listed.id, listed.secret])).toContainEqual([webhook.id, undefined]);

  const submitted = await submitBatch([shell('true'), shell('exit 2')].map((step, i) => ({ custom_id: `c${i}`, goal: `g${i}`, plan: [step] })));
  await waitFor(() => forBatch(submitted.batch_id, 'batch.ended').length === 1, 60_000, 'batch.ended arrived');

  const missions = forBatch(submitted.batch_id, 'mission.ended').map(dataOf);
  expect(missions.map((data) => [data.custom_id, data.status])).toEqual(expect.arrayContaining([['c0', 'succeeded'], ['c1', 'failed']]));
  expect(missions).toHaveLength(2);
  const [ended] = forBatch(submitted.batch_id, 'batch.ended');
  expect(dataOf(ended!)).toMatchObject({ batch_id: submitted.batch_id, cancelled: false, counts: { succeeded: 1, failed: 1 } });
  expect(JSON.stringify(receiver.received.map((request) => request.body))).not.toContain(webhook.secret);
  const verifier = new Webhook(webhook.secret!);
  const headers = ended!.headers as Record<string, string>;
  expect(() => verifier.verify(ended!.body.replace('"cancelled":false', '"cancelled":true'), headers)).toThrow();
  const now = Date.now;
  Date.now = () => now() + 10 * 60_000; // the same request, replayed ten minutes later
  try {
    expect(() => verifier.verify(ended!.body, headers)).toThrow(/too old/i);
  } finally {
    Date.now = now;
  }
  await remove(webhook);
});

test('a receiver that is down gets every event once it is back, each retried under its own id; the log shows every attempt', async () => {
  const webhook = await subscribe(['mission.ended']);
  receiver.answer = 503;
  const submitted = await submitBatch(Array.from({ length: 5 }, (_, i) => ({ custom_id: `down-${i}`, goal: `g${i}`, plan: [shell('true')] })));
  await waitFor(async () => {
    const log = await deliveries(webhook);
    return log.length === 5 && log.every((delivery) => delivery.attempts.length >= 2);
  }, 60_000, 'every delivery tried twice');

  receiver.answer = 200;

  await waitFor(async () => (await deliveries(webhook)).every((delivery) => delivery.status === 'delivered'), 60_000, 'all delivered');
  const log = await deliveries(webhook);
  const got = forBatch(submitted.batch_id, 'mission.ended');
  expect(new Set(got.map((request) => request.id))).toEqual(new Set(log.map((delivery) => delivery.id)));
  expect(new Set(got.map((request) => dataOf(request).mission_id))).toEqual(new Set(submitted.items.map((item) => item.id)));
  for (const delivery of log) {
    const tries = receiver.received.filter((request) => request.id === delivery.id);
    expect(tries.map((request) => request.answered)).toEqual([...tries.slice(0, -1).map(() => 503), 200]);
    expect(delivery.attempts.map((attempt) => attempt.response_status)).toEqual(tries.map((request) => request.answered));
  }
  await remove(webhook);
});

test('an endpoint that answers 410 Gone is disabled: nothing more is sent to it', async () => {
  const webhook = await subscribe(['mission.ended']);
  receiver.answer = 410;
  const first = await submitBatch([{ goal: 'gone', plan: [shell('true')] }]);
  await waitFor(async () => ((await (await context.platform.request('GET', '/v1/webhooks')).json()) as { data: WebhookJson[] }).data.some((listed) => listed.id === webhook.id && listed.disabled_at !== null));
  const listed = ((await (await context.platform.request('GET', '/v1/webhooks')).json()) as { data: WebhookJson[] }).data.find((item) => item.id === webhook.id)!;
  expect(listed.disabled_reason).toBe('the endpoint answered 410 Gone');
  receiver.answer = 200;

  const second = await submitBatch([{ goal: 'after', plan: [shell('true')] }]);
  await context.platform.waitForMission(second.items[0]!.id);

  expect((await deliveries(webhook)).map((delivery) => [delivery.status, delivery.attempts.length])).toEqual([['failed', 1]]);
  expect(receiver.received.filter((request) => dataOf(request).batch_id === first.batch_id)).toHaveLength(1);
  await remove(webhook);
});

test('a delivery can be sent again, under the same id', async () => {
  const webhook = await subscribe(['batch.ended']);
  const submitted = await submitBatch([{ goal: 'once', plan: [shell('true')] }]);
  await waitFor(() => forBatch(submitted.batch_id, 'batch.ended').length === 1);
  const [delivery] = await deliveries(webhook);

  const again = await context.platform.request('POST', `/v1/webhooks/${webhook.id}/deliveries/${delivery!.id}/redeliver`);

  expect(again.status).toBe(202);
  await waitFor(() => forBatch(submitted.batch_id, 'batch.ended').length === 2);
  expect(forBatch(submitted.batch_id, 'batch.ended').map((request) => request.id)).toEqual([delivery!.id, delivery!.id]);
  await remove(webhook);
});

test.each([
  ['plain http', 'http://example.com/hooks', /must be https/],
  ['a private address', 'https://10.1.2.3/hooks', /not a public address \(10\.1\.2\.3\)/],
  ['loopback on another port', 'https://127.0.0.1:1/hooks', /not a public address \(127\.0\.0\.1\)/],
  ['link-local metadata', 'https://169.254.169.254/latest', /not a public address/],
])('a webhook URL that is %s is refused', async (_what, url, message) => {
  const response = await context.platform.request('POST', '/v1/webhooks', { url, events: ['mission.ended'] });

  expect(response.status).toBe(400);
  expect(((await response.json()) as { errors: { path: string; message: string }[] }).errors).toEqual([{ path: 'url', message: expect.stringMatching(message) }]);
});

test("a tenant's webhooks hear only its own missions, and another tenant's webhook is a 404", async () => {
  const tenant = await createTenant(context.platform, 'hooked');
  const theirs = await subscribe(['mission.ended'], tenant);
  const mine = await submitBatch([{ goal: 'admin mission', plan: [shell('true')] }]);
  const ours = await submitBatch([{ goal: 'tenant mission', plan: [shell('true')] }], tenant);
  await waitFor(() => forBatch(ours.batch_id, 'mission.ended').length === 1);
  await context.platform.waitForMission(mine.items[0]!.id);

  expect(forBatch(mine.batch_id, 'mission.ended')).toEqual([]);
  for (const [method, path] of [['DELETE', ''], ['GET', '/deliveries']] as const) {
    expect((await context.platform.request(method, `/v1/webhooks/${theirs.id}${path}`)).status).toBe(404);
  }
  expect((await context.platform.request('DELETE', `/v1/webhooks/${theirs.id}`, undefined, tenant)).status).toBe(204);
});

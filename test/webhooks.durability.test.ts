import type { ChildProcess } from 'node:child_process';
import { createTestEnv, removeSandboxes, type TestEnv } from './harness';
import { shell } from './platform';
import { forkApi, forkWorker, stopProcess } from './processes';
import { freePort } from './services';
import { waitFor } from './waitFor';
import { startReceiver, type WebhookReceiver } from './webhookReceiver';

// Deliveries live in Postgres, written with the change they report: an API and a worker SIGKILLed while the
// receiver is down lose none of them; their next lives deliver each.
let env: TestEnv;
let receiver: WebhookReceiver;
let port: number;
const children = new Set<ChildProcess>();
const workerId = `webhooks-durability-${process.pid}`;

beforeAll(async () => {
  receiver = await startReceiver();
  env = await createTestEnv();
  port = await freePort();
});
afterAll(async () => {
  for (const child of children) await stopProcess(child, 'SIGKILL');
  await removeSandboxes(workerId);
  await env?.cleanup();
  await receiver?.close();
});

function startBoth(): ChildProcess[] {
  const webhooks = { WEBHOOK_URL_ALLOWLIST: receiver.origin, WEBHOOK_POLL_MS: '100', WEBHOOK_FIRST_RETRY_MS: '200' };
  const started = [forkApi(env.config, port, webhooks), forkWorker(env.config, workerId, { ...webhooks, WORKER_CONCURRENCY: '4', SANDBOX_POOL_SIZE: '1' })];
  for (const child of started) children.add(child);
  return started;
}

async function call(method: string, path: string, body?: object): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${env.config.ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
}

test('an API and a worker SIGKILLed while deliveries wait for a receiver that is down lose none of them', async () => {
  receiver.answer = 503;
  const first = startBoth();
  await waitFor(() => call('GET', '/healthz').then((response) => response.ok, () => false), 60_000, 'the API up');
  const created = await call('POST', '/v1/webhooks', { url: receiver.url, events: ['mission.ended', 'batch.ended'] });
  expect(created.status).toBe(201);
  receiver.secret = ((await created.json()) as { secret: string }).secret;
  const submitted = await call('POST', '/v1/missions/batch', { missions: Array.from({ length: 10 }, (_, i) => ({ goal: `g${i}`, plan: [shell('true')] })) });
  const { batch_id: batchId, items } = (await submitted.json()) as { batch_id: string; items: { id: string }[] };
  // Every event is in the outbox and has been tried (and refused) at least once.
  await waitFor(async () => {
    const rows = await env.db('webhook_deliveries').where('attempts', '>', 0).select('status');
    return rows.length === 11 && rows.every((row: { status: string }) => row.status === 'pending');
  }, 60_000, 'all eleven deliveries tried');

  for (const child of first) await stopProcess(child, 'SIGKILL');
  receiver.answer = 200;
  startBoth();

  await waitFor(async () => (await env.db('webhook_deliveries').where({ status: 'delivered' }).count({ n: '*' }))[0]!.n === '11', 60_000, 'all delivered');
  const accepted = receiver.accepted();
  const data = accepted.map((request) => ('payload' in request.verified ? request.verified.payload.data : {}));
  expect(new Set(data.filter((item) => item.mission_id).map((item) => item.mission_id))).toEqual(new Set(items.map((item) => item.id)));
  expect(data.filter((item) => item.batch_id === batchId && !item.mission_id)).toHaveLength(1);
});

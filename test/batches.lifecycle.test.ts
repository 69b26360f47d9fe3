import { pendingJobs } from './harness';
import { shell, usePlatform } from './platform';
import { waitFor } from './waitFor';
import { startReceiver, type WebhookReceiver } from './webhookReceiver';

// Batches as evaluation users run them, against real sandboxed missions: custom ids, the lifecycle, the results
// file, cancel, retry of the failures and the comparison of two runs.
let receiver: WebhookReceiver;
beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver?.close());
const context = usePlatform({ env: () => ({ WORKER_CONCURRENCY: '8', SANDBOX_POOL_SIZE: '4', WEBHOOK_URL_ALLOWLIST: receiver.origin, WEBHOOK_POLL_MS: '100' }) });

interface BatchJson {
  id: string;
  status: string;
  items: number;
  attempts: number;
  counts: Record<string, number>;
  ended_at: string | null;
  cancel_requested_at: string | null;
  duration_ms: { p50: number; p95: number } | null;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number | null };
}

interface ResultLine {
  custom_id: string | null;
  mission_id: string;
  item: number;
  attempt: number;
  retry_of: string | null;
  status: string;
  result: unknown;
  error: { code: string } | null;
  duration_ms: number | null;
}

async function submit(missions: object[], headers: Record<string, string> = {}): Promise<{ batch_id: string; items: { index: number; id?: string; error?: { detail: string } }[] }> {
  const response = await context.platform.request('POST', '/v1/missions/batch', { missions }, headers);
  expect(response.status).toBe(202);
  return (await response.json()) as { batch_id: string; items: { index: number; id?: string; error?: { detail: string } }[] };
}

const batch = async (id: string) => (await (await context.platform.request('GET', `/v1/batches/${id}`)).json()) as BatchJson;

async function results(id: string, query = ''): Promise<ResultLine[]> {
  const response = await context.platform.request('GET', `/v1/batches/${id}/results${query}`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
  const text = await response.text();
  expect(text.endsWith('\n') || text === '').toBe(true);
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as ResultLine);
}

const ended = (id: string) => waitFor(async () => (await batch(id)).status === 'ended', 60_000, `batch ${id} ended`);

/** An evaluation of `count` items named case-0.., each passing unless `fails(i)`. */
const evaluation = (count: number, fails: (i: number) => boolean) =>
  Array.from({ length: count }, (_, i) => ({ custom_id: `case-${i}`, goal: `case ${i}`, plan: [shell(fails(i) ? `echo case ${i}; exit 3` : `echo case ${i}`)] }));

test('custom ids name the items: a duplicate is a problem of its own item, and the results file joins each line to its input in order', async () => {
  const submitted = await submit([...evaluation(5, (i) => i === 3), { custom_id: 'case-1', goal: 'again', plan: [shell('true')] }]);

  expect(submitted.items[5]!.error!.detail).toBe('mission 5: custom_id "case-1" is that of mission 1 already');
  await ended(submitted.batch_id);
  const lines = await results(submitted.batch_id);
  expect(lines.map((line) => [line.custom_id, line.item, line.attempt, line.status])).toEqual([
    ['case-0', 0, 1, 'succeeded'],
    ['case-1', 1, 1, 'succeeded'],
    ['case-2', 2, 1, 'succeeded'],
    ['case-3', 3, 1, 'failed'],
    ['case-4', 4, 1, 'succeeded'],
  ]);
  expect(lines.map((line) => line.mission_id)).toEqual(submitted.items.slice(0, 5).map((item) => item.id));
  expect(lines[3]!.error).toMatchObject({ code: 'ERR_STEP_FAILED' });
  expect((await results(submitted.batch_id, '?status=failed,timed_out')).map((line) => line.custom_id)).toEqual(['case-3']);
  const summary = await batch(submitted.batch_id);
  expect(summary).toMatchObject({ status: 'ended', items: 5, attempts: 5, counts: { succeeded: 4, failed: 1, queued: 0, running: 0 }, usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 } });
  expect(summary.duration_ms!.p95).toBeGreaterThanOrEqual(summary.duration_ms!.p50);
  expect(Date.parse(summary.ended_at!)).toBeGreaterThan(0);
});

test('results are there while the batch runs: open items show as they are now', async () => {
  const submitted = await submit([{ custom_id: 'quick', goal: 'quick', plan: [shell('true')] }, { custom_id: 'slow', goal: 'slow', plan: [shell('sleep 60')] }]);
  await waitFor(async () => (await results(submitted.batch_id)).map((line) => line.status).join() === 'succeeded,running');

  expect((await batch(submitted.batch_id)).status).toBe('in_progress');
  const cancel = await context.platform.request('POST', `/v1/batches/${submitted.batch_id}/cancel`);
  expect(cancel.status).toBe(202);
  await ended(submitted.batch_id);
  expect((await results(submitted.batch_id)).map((line) => [line.custom_id, line.status, line.error?.code ?? null])).toEqual([
    ['quick', 'succeeded', null],
    ['slow', 'cancelled', 'ERR_CANCELLED'],
  ]);
});

test('a cancel stops a 2,000-mission batch mid-run: no step starts after it commits, each mission cancelled or done, the batch ended and announced once; cancelling it again is a 409', async () => {
  const { env } = context;
  const hook = await context.platform.request('POST', '/v1/webhooks', { url: receiver.url, events: ['batch.ended'] });
  const webhook = (await hook.json()) as { id: string; secret: string };
  receiver.secret = webhook.secret;
  const missions = Array.from({ length: 2_000 }, (_, i) => ({ custom_id: `m${i}`, goal: `step ${i}`, plan: [shell('sleep 0.2'), shell('sleep 0.2'), shell('true')] }));
  const submitted = await submit(missions);
  await waitFor(async () => (await batch(submitted.batch_id)).counts.succeeded >= 16, 60_000, 'some missions done');

  const cancel = await context.platform.request('POST', `/v1/batches/${submitted.batch_id}/cancel`);

  expect(cancel.status).toBe(202);
  expect(((await cancel.json()) as BatchJson).cancel_requested_at).not.toBeNull();
  await ended(submitted.batch_id);
  const rows = (await env.db('missions').where({ batch_id: submitted.batch_id }).select('id', 'status', 'error')) as { id: string; status: string; error: { code: string } | null }[];
  expect(rows.filter((row) => row.status === 'succeeded').length).toBeGreaterThanOrEqual(16);
  expect(rows.filter((row) => row.status !== 'succeeded').map((row) => [row.status, row.error?.code])).toEqual(
    rows.filter((row) => row.status !== 'succeeded').map(() => ['cancelled', 'ERR_CANCELLED']),
  );
  // No step of the batch started after the cancel committed (checked once every job is done, so none can).
  await waitFor(async () => (await pendingJobs(env.config)) === 0);
  const { cancel_requested_at: cancelledAt } = await env.db('batches').where({ id: submitted.batch_id }).first('cancel_requested_at');
  const latestStart = await env.db('steps').whereIn('mission_id', rows.map((row) => row.id)).max({ at: 'started_at' });
  expect((latestStart[0]!.at as Date).getTime()).toBeLessThan((cancelledAt as Date).getTime());
  const again = await context.platform.request('POST', `/v1/batches/${submitted.batch_id}/cancel`);
  expect(again.status).toBe(409);
  // Announced once: one delivery was written for the batch's end, and the receiver verified it.
  await waitFor(() => receiver.accepted('batch.ended').length === 1);
  expect(await env.db('webhook_deliveries').where({ webhook_id: webhook.id }).count({ n: '*' })).toEqual([{ n: '1' }]);
  const [announced] = receiver.accepted('batch.ended');
  expect('payload' in announced!.verified && announced!.verified.payload.data).toMatchObject({ batch_id: submitted.batch_id, cancelled: true });
  expect((await context.platform.request('DELETE', `/v1/webhooks/${webhook.id}`)).status).toBe(204);
});

test('retry runs only what failed: a new attempt of each failed item, the others untouched; results show the latest; the same key retries once', async () => {
  const submitted = await submit(evaluation(9, (i) => i % 3 === 0));
  await ended(submitted.batch_id);
  const key = { 'idempotency-key': `retry-${submitted.batch_id}` };

  const retried = await context.platform.request('POST', `/v1/batches/${submitted.batch_id}/retry`, {}, key);
  const replayed = await context.platform.request('POST', `/v1/batches/${submitted.batch_id}/retry`, {}, key);

  expect(retried.status).toBe(202);
  const body = (await retried.json()) as { retried: number; items: { custom_id: string; attempt: number; retry_of: string }[] };
  expect(body.items.map((item) => [item.custom_id, item.attempt])).toEqual([['case-0', 2], ['case-3', 2], ['case-6', 2]]);
  expect(replayed.headers.get('idempotent-replayed')).toBe('true');
  expect(await replayed.json()).toEqual(body);
  await ended(submitted.batch_id);
  const latest = await results(submitted.batch_id);
  expect(latest.map((line) => [line.custom_id, line.attempt, line.status])).toEqual(
    Array.from({ length: 9 }, (_, i) => [`case-${i}`, i % 3 === 0 ? 2 : 1, i % 3 === 0 ? 'failed' : 'succeeded']),
  );
  expect(latest[0]!.retry_of).toBe(submitted.items[0]!.id);
  const all = await results(submitted.batch_id, '?attempts=all');
  expect(all.filter((line) => line.custom_id === 'case-3').map((line) => line.attempt)).toEqual([1, 2]);
  expect(all).toHaveLength(12);
  expect(await batch(submitted.batch_id)).toMatchObject({ items: 9, attempts: 12, counts: { failed: 3, succeeded: 6 } });
  // Nothing left that failed with another code: a retry filtered by error code retries nothing.
  const none = await context.platform.request('POST', `/v1/batches/${submitted.batch_id}/retry`, { error_codes: ['ERR_DEADLINE'] });
  expect(((await none.json()) as { retried: number }).retried).toBe(0);
});

test('comparing two runs by custom id reports exactly what broke and what was fixed', async () => {
  const yesterday = await submit(evaluation(6, (i) => i === 1 || i === 4));
  const today = await submit([...evaluation(6, (i) => i === 2 || i === 4).filter((_, i) => i !== 5), { custom_id: 'case-new', goal: 'new', plan: [shell('true')] }]);
  await ended(yesterday.batch_id);
  await ended(today.batch_id);

  const response = await context.platform.request('GET', `/v1/batches/${today.batch_id}/compare?with=${yesterday.batch_id}`);

  expect(response.status).toBe(200);
  const diff = (await response.json()) as { counts: Record<string, number>; items: { custom_id: string; change: string }[] };
  expect(diff.counts).toEqual({ broken: 1, fixed: 1, still_failing: 1, still_passing: 2, unfinished: 0, only_here: 1, only_there: 1 });
  expect(diff.items.map((item) => [item.custom_id, item.change])).toEqual([
    ['case-1', 'fixed'],
    ['case-2', 'broken'],
    ['case-4', 'still_failing'],
    ['case-5', 'only_there'],
    ['case-new', 'only_here'],
  ]);
});

test("another tenant's batch is a 404 on every batch route", async () => {
  const submitted = await submit(evaluation(1, () => false));
  const created = await context.platform.request('POST', '/v1/admin/tenants', { name: 'nosy' });
  const { api_key: key } = (await created.json()) as { api_key: string };
  const nosy = { authorization: `Bearer ${key}` };
  for (const [method, path] of [
    ['GET', ''],
    ['GET', '/results'],
    ['POST', '/cancel'],
    ['POST', '/retry'],
    ['GET', `/compare?with=${submitted.batch_id}`],
  ] as const) {
    expect([path, (await context.platform.request(method, `/v1/batches/${submitted.batch_id}${path}`, undefined, nosy)).status]).toEqual([path, 404]);
  }
});

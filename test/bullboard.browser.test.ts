import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createMissionQueue } from '../lib/queue';
import { createRedis } from '../lib/redis';
import { createTenant, shell, usePlatform } from './platform';
import { waitFor } from './waitFor';

// Bull Board in Debian's Chromium, driven by playwright-core: the operator logs in with the admin key and finds
// the missions' jobs, a finished one and a failed one, and follows a job to its mission's page in the console.
const context = usePlatform();
// The README's picture: refreshed with UPDATE_DOCS=1; otherwise the test leaves the working tree alone.
const SCREENSHOT = process.env.UPDATE_DOCS ? join(__dirname, '..', 'docs', 'bull-board.png') : join(tmpdir(), `bull-board-${process.pid}.png`);
let browser: Browser;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    // No network here: Chromium's own background traffic is switched off rather than refused many times over.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(() => browser?.close());

const basic = (password: string) => `Basic ${Buffer.from(`operator:${password}`).toString('base64')}`;

async function counts(): Promise<Record<string, number>> {
  const response = await context.platform.request('GET', '/admin/queues/api/queues', undefined, { authorization: basic(context.env.config.ADMIN_API_KEY) });
  return ((await response.json()) as { queues: { counts: Record<string, number> }[] }).queues[0]!.counts;
}

test('without credentials the board is a 401 (the login page for a browser); a tenant key is a 403; the admin key works as Basic or Bearer', async () => {
  const { platform } = context;
  const tenant = await createTenant(platform, 'not-an-operator');

  const none = await platform.request('GET', '/admin/queues/api/queues', undefined, { authorization: '' });
  expect([none.status, none.headers.get('www-authenticate')]).toEqual([401, expect.stringMatching(/^Basic /)]);
  const page = await fetch(`http://127.0.0.1:${platform.api.port}/admin/queues`, { headers: { accept: 'text/html' }, redirect: 'manual' });
  expect([page.status, page.headers.get('location')]).toEqual([303, '/admin/login']);
  expect((await platform.request('GET', '/admin/queues/api/queues', undefined, tenant)).status).toBe(403);
  const key = tenant.authorization!.slice('Bearer '.length);
  expect((await platform.request('GET', '/admin/queues/api/queues', undefined, { authorization: basic(key) })).status).toBe(403);
  expect((await platform.request('GET', '/admin/queues/api/queues')).status).toBe(200);
  expect(Object.keys(await counts())).toContain('completed');
});

test('the operator logs in, sees completed and failed jobs, and opens a job and its mission', async () => {
  const { platform, env } = context;
  const created = await platform.request('POST', '/v1/missions/batch', { missions: [{ goal: 'works', plan: [shell('echo hi')] }, { goal: 'fails its step', plan: [shell('exit 3')] }] });
  const [succeeds] = ((await created.json()) as { items: { id: string }[] }).items;
  // A job that names no mission (added by hand) fails: the board shows failed jobs too.
  const redis = createRedis(env.config, 'producer');
  const queue = createMissionQueue(redis, env.config.QUEUE_PREFIX);
  await queue.add('mission', { mission_id: 'not-a-mission', tenant_id: 'nobody' }, { jobId: 'added-by-hand' });
  await queue.close();
  redis.disconnect();
  await waitFor(async () => {
    const now = await counts();
    return now.completed! >= 2 && now.failed! >= 1;
  });

  // Each job shows its mission: named by its goal, its progress the step count, its log the steps.
  const board = (path: string) =>
    context.platform.request('GET', `/admin/queues/api/queues${path}`, undefined, { authorization: basic(env.config.ADMIN_API_KEY) }).then((response) => response.json());
  const listed = (await board('?activeQueue=missions&status=completed&page=1')) as { queues: { jobs: { id: string; name: string; progress: unknown }[] }[] };
  expect(listed.queues[0]!.jobs.find((job) => job.id === succeeds!.id)).toMatchObject({ name: 'works', progress: 1 });
  expect(await board(`/missions/${succeeds!.id}/logs`)).toEqual(['step 1 shell (exit 0)']);

  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const base = `http://127.0.0.1:${platform.api.port}`;
  await page.goto(`${base}/admin/queues`);
  expect(new URL(page.url()).pathname).toBe('/admin/login');
  await page.fill('#key', 'not the key');
  await page.click('button[type=submit]');
  await page.getByRole('alert').getByText('That is not the admin key.').waitFor();
  await page.fill('#key', env.config.ADMIN_API_KEY);
  await page.click('button[type=submit]');
  await page.getByText('missions', { exact: true }).first().waitFor();
  expect(new URL(page.url()).pathname).toBe('/admin/queues');
  const cookie = (await page.context().cookies()).find((one) => one.name === 'mc_session')!;
  expect([cookie.httpOnly, cookie.sameSite]).toEqual([true, 'Strict']);
  expect(cookie.value).not.toContain(env.config.ADMIN_API_KEY);

  await page.goto(`${base}/admin/queues/queue/missions?status=failed`);
  await page.getByText('added-by-hand').first().waitFor();
  await page.goto(`${base}/admin/queues/queue/missions?status=completed`);
  await page.getByRole('link', { name: succeeds!.id }).click();
  await page.getByText(succeeds!.id).first().waitFor();
  await page.screenshot({ path: SCREENSHOT });

  // The job's link opens its mission's page in the console: the admin's session is the console's too.
  const link = await page.getByRole('link', { name: 'mission', exact: true }).first().getAttribute('href');
  expect(link).toBe(`/console/missions/${succeeds!.id}`);
  await page.goto(`${base}${link}`);
  await page.locator('main .summary[data-status="succeeded"]').waitFor();
  await page.close();
});

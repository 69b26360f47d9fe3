import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createTestEnv, type TestEnv } from './harness';
import { shell } from './platform';
import { forkStart, stopProcess } from './processes';
import { freePort } from './services';
import { waitFor } from './waitFor';

// The console in Debian's Chromium, against what `npm start` runs (the API and a worker in one process): tenants
// sign in, watch a trace grow live, approve, cancel, look at a batch and retry its failures; another tenant finds
// nothing of theirs and cannot forge a form; hostile output stays inert; the report opens from disk alone.
const BIN = join(__dirname, '..', 'bin', 'missions.js');
// The README's pictures: refreshed with UPDATE_DOCS=1; otherwise the test leaves the working tree alone.
const pictures = process.env.UPDATE_DOCS ? join(__dirname, '..', 'docs') : mkdtempSync(join(tmpdir(), 'console-shots-'));
const TERMINAL = ['succeeded', 'failed', 'cancelled', 'timed_out'];

/** What the tests read inside a page (this file is compiled without the DOM's types). */
interface InPage {
  pwned?: unknown;
  stillHere?: boolean;
  innerWidth: number;
  document: { getElementById(id: string): { chart: { data: number[][] } }; documentElement: { scrollWidth: number } };
}
/** The data a chart on the page was drawn from (uPlot's, kept on its element by console.js). */
const chartData = (page: Page, id: string) => page.evaluate((chartId) => (globalThis as unknown as InPage).document.getElementById(chartId).chart.data, id);

let env: TestEnv;
let server: ChildProcess;
let base: string;
let browser: Browser;
const keys: Record<'alpha' | 'beta', string> = { alpha: '', beta: '' };

async function api<T = Record<string, unknown>>(method: string, path: string, body?: object, key = env.config.ADMIN_API_KEY): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

async function submit(key: string, mission: object): Promise<string> {
  const created = await api<{ id: string }>('POST', '/v1/missions', mission, key);
  expect(created.status).toBe(201);
  return created.body.id;
}

async function statusBecomes(id: string, statuses: string[], key: string): Promise<void> {
  await waitFor(async () => statuses.includes((await api<{ status: string }>('GET', `/v1/missions/${id}`, undefined, key)).body.status), 60_000, `mission ${id} ${statuses.join('|')}`);
}

async function batchEnded(id: string, key: string): Promise<void> {
  await waitFor(async () => (await api<{ status: string }>('GET', `/v1/batches/${id}`, undefined, key)).body.status === 'ended', 60_000, `batch ${id} ended`);
}

async function signedIn(key: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  await page.goto(`${base}/console/missions`);
  expect(new URL(page.url()).pathname).toBe('/console/login');
  await page.fill('#key', key);
  await page.click('button[type=submit]');
  await page.waitForURL(`${base}/console/missions`);
  return { context, page };
}

beforeAll(async () => {
  env = await createTestEnv();
  base = `http://127.0.0.1:${await freePort()}`;
  server = forkStart(env.config, Number(new URL(base).port), { WORKER_ID: env.owner, WORKER_CONCURRENCY: '4', SANDBOX_POOL_SIZE: '1' });
  await waitFor(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 90_000, 'npm start ready');
  for (const name of ['alpha', 'beta'] as const) {
    const created = await api<{ api_key: string }>('POST', '/v1/admin/tenants', { name: `${name}-${env.owner}` });
    keys[name] = created.body.api_key;
  }
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (server) await stopProcess(server);
  await env?.cleanup();
});

test('a tenant signs in with its key, lists only its missions, and watches a trace grow live', async () => {
  const theirs = await submit(env.config.ADMIN_API_KEY, { goal: 'the admin tenant', plan: [shell('true')] });
  const id = await submit(keys.alpha, {
    goal: 'three steps, the second approved by a human',
    require_approval: ['python'],
    plan: [shell('echo first step'), { tool: 'python', input: { code: 'print(6 * 7)' } }, shell('echo third step')],
  });
  await statusBecomes(id, ['waiting_approval'], keys.alpha);

  const { context, page } = await signedIn(keys.alpha);
  const cookie = (await context.cookies()).find((one) => one.name === 'mc_session')!;
  expect([cookie.httpOnly, cookie.sameSite]).toEqual([true, 'Strict']);
  expect(cookie.value).not.toContain(keys.alpha);
  await page.locator(`tr[data-mission="${id}"]`).waitFor();
  expect(await page.locator(`tr[data-mission="${theirs}"]`).count()).toBe(0);

  await page.click(`tr[data-mission="${id}"] a`);
  await page.locator('.approval pre.call', { hasText: 'print(6 * 7)' }).waitFor();
  const steps = page.locator(`#m-${id}-steps li.step`);
  expect(await steps.count()).toBe(1);
  // The same page, never reloaded, shows what happens next.
  await page.evaluate(() => ((globalThis as unknown as InPage).stillHere = true));
  expect((await api('POST', `/v1/missions/${id}/approvals`, { decision: 'approve' }, keys.alpha)).status).toBe(200);
  await steps.nth(2).waitFor();
  await page.locator('main .summary[data-status="succeeded"]').waitFor();
  await page.locator('main .waterfall .row').nth(3).waitFor();
  expect(await page.evaluate(() => (globalThis as unknown as InPage).stillHere)).toBe(true);
  expect(await steps.allInnerTexts()).toEqual([expect.stringContaining('first step'), expect.stringContaining('42'), expect.stringContaining('third step')]);
  await page.screenshot({ path: join(pictures, 'console-mission.png'), fullPage: true });
  await context.close();
});

test('a waiting step is approved from the page, and a running mission cancelled', async () => {
  const waiting = await submit(keys.alpha, { goal: 'asks before it runs', require_approval: ['shell'], plan: [shell('echo approved in the console')] });
  const running = await submit(keys.alpha, { goal: 'runs until cancelled', plan: [shell('sleep 600')] });
  await statusBecomes(waiting, ['waiting_approval'], keys.alpha);
  const { context, page } = await signedIn(keys.alpha);

  await page.goto(`${base}/console/missions/${waiting}`);
  await page.locator('.approval pre.call', { hasText: 'echo approved in the console' }).waitFor();
  await page.click('.approval button:has-text("Approve")');
  await page.locator('main .summary[data-status="succeeded"]').waitFor();
  await page.locator('pre.stdout', { hasText: 'approved in the console' }).waitFor();

  await statusBecomes(running, ['running'], keys.alpha);
  await page.goto(`${base}/console/missions/${running}`);
  await page.click('button:has-text("Cancel")');
  await page.locator('main .summary[data-status="cancelled"]').waitFor();
  await statusBecomes(running, ['cancelled'], keys.alpha);
  await context.close();
});

test('a batch page draws its durations, groups its errors, retries its failures and compares two runs', async () => {
  const item = (custom_id: string, command: string) => ({ custom_id, goal: `item ${custom_id}`, plan: [shell(command)] });
  const first = await api<{ batch_id: string }>('POST', '/v1/missions/batch', {
    missions: [item('ok-1', 'echo 1'), item('ok-2', 'echo 2'), item('ok-3', 'echo 3'), item('bad-1', 'exit 3'), item('bad-2', 'exit 3')],
  }, keys.alpha);
  const batch = first.body.batch_id;
  await batchEnded(batch, keys.alpha);
  const { context, page } = await signedIn(keys.alpha);

  await page.goto(`${base}/console/batches/${batch}`);
  await page.locator('#durations-chart[data-drawn="true"]').waitFor();
  const [, drawn] = await chartData(page, 'durations-chart');
  expect(drawn!.reduce((sum, count) => sum + count, 0)).toBe(5);
  expect(await page.locator('#pass-rate').innerText()).toBe('60.0% of 5 ended');
  expect(await page.locator('details.error-group[data-code="ERR_STEP_FAILED"] tbody tr').count()).toBe(2);

  await page.click('button:has-text("Retry 2 failures")');
  await page.waitForURL(`${base}/console/batches/${batch}`);
  await waitFor(async () => (await api<{ attempts: number }>('GET', `/v1/batches/${batch}`, undefined, keys.alpha)).body.attempts === 7, 60_000, 'two retries');
  await batchEnded(batch, keys.alpha);

  const second = await api<{ batch_id: string }>('POST', '/v1/missions/batch', {
    missions: [item('ok-1', 'exit 4'), item('ok-2', 'echo 2'), item('ok-3', 'echo 3'), item('bad-1', 'echo fixed'), item('bad-2', 'exit 3')],
  }, keys.alpha);
  await batchEnded(second.body.batch_id, keys.alpha);
  await page.goto(`${base}/console/batches/${second.body.batch_id}`);
  await page.fill('input[name=compare]', batch);
  await page.click('#compare button[type=submit]');
  await page.locator('#changes').waitFor();
  const changes = Object.fromEntries(await page.locator('[data-change]').evaluateAll((nodes) => nodes.map((node) => [node.getAttribute('data-change'), node.textContent])));
  expect(changes).toMatchObject({ broken: '1', fixed: '1', still_failing: '1', still_passing: '2' });
  await page.goto(`${base}/console/batches/${batch}`);
  await page.locator('#durations-chart[data-drawn="true"]').waitFor();
  await page.screenshot({ path: join(pictures, 'console-batch.png'), fullPage: true });
  await context.close();
});

test("another tenant gets 404 pages for the first one's ids, and forged forms fail the CSRF check", async () => {
  const alphas = await submit(keys.alpha, { goal: "alpha's secret", plan: [shell('echo alpha')] });
  const alphaBatch = (await api<{ batch_id: string }>('POST', '/v1/missions/batch', { missions: [{ goal: 'x', plan: [shell('true')] }] }, keys.alpha)).body.batch_id;
  const betas = await submit(keys.beta, { goal: "beta's own", plan: [shell('sleep 600')] });
  await statusBecomes(alphas, TERMINAL, keys.alpha);
  const alpha = await signedIn(keys.alpha);
  const alphaToken = await alpha.page.locator('input[name=_csrf]').first().inputValue();
  const { context, page } = await signedIn(keys.beta);

  expect(await page.locator(`tr[data-mission="${alphas}"]`).count()).toBe(0);
  expect((await page.goto(`${base}/console/missions/${alphas}`))!.status()).toBe(404);
  expect(await page.locator('body').innerText()).not.toContain("alpha's secret");
  expect((await page.goto(`${base}/console/batches/${alphaBatch}`))!.status()).toBe(404);
  expect((await context.request.get(`${base}/console/batches/${alphaBatch}/report.html`)).status()).toBe(404);
  expect((await page.goto(`${base}/console/fleet`))!.status()).toBe(403);

  await page.goto(`${base}/console/missions/${betas}`);
  const token = await page.locator('input[name=_csrf]').first().inputValue();
  const post = (path: string, form: Record<string, string>) => context.request.post(`${base}${path}`, { form, maxRedirects: 0 });
  expect((await post(`/console/missions/${betas}/cancel`, {})).status()).toBe(403);
  expect((await post(`/console/missions/${betas}/cancel`, { _csrf: 'forged' })).status()).toBe(403);
  expect((await post(`/console/missions/${betas}/cancel`, { _csrf: alphaToken })).status()).toBe(403);
  expect((await post(`/console/missions/${alphas}/rerun`, { _csrf: token })).status()).toBe(404);
  expect((await api<{ status: string }>('GET', `/v1/missions/${betas}`, undefined, keys.beta)).body.status).not.toBe('cancelled');
  expect((await post(`/console/missions/${betas}/cancel`, { _csrf: token })).status()).toBe(303);
  await statusBecomes(betas, ['cancelled'], keys.beta);
  await alpha.context.close();
  await context.close();
});

test('hostile goals and output render inert and readable, arriving live and on reload', async () => {
  const hostile = [
    `printf '<script>window.pwned="script"</script>\\n'`,
    `printf '"><img src=x onerror="window.pwned=1">\\n'`,
    `printf '\\033[31mred\\033[0m and a bell\\007\\n'`,
    `head -c 10000 /dev/zero | tr '\\0' A; echo`,
    `printf '\\000\\377\\376binary' >&2`,
  ].join('; ');
  const id = await submit(keys.alpha, {
    goal: `<img src=x onerror="window.pwned='goal'"> hostile "quotes' & <b>tags</b>`,
    require_approval: ['shell'],
    plan: [{ tool: 'python', input: { code: 'print("</pre><script>window.pwned=2</script>")' } }, shell(hostile)],
  });
  await statusBecomes(id, ['waiting_approval'], keys.alpha);
  const { context, page } = await signedIn(keys.alpha);
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => void dialogs.push(dialog.message()));
  await page.goto(`${base}/console/missions/${id}`);
  await api('POST', `/v1/missions/${id}/approvals`, { decision: 'approve' }, keys.alpha);
  await page.locator(`#m-${id}-steps li.step`).nth(1).waitFor();
  await page.locator('main .summary[data-status="failed"], main .summary[data-status="succeeded"]').waitFor();

  const inert = async () => {
    expect(await page.evaluate(() => (globalThis as unknown as InPage).pwned)).toBeUndefined();
    expect(await page.locator('main img, main b, main script').count()).toBe(0);
    expect(dialogs).toEqual([]);
    const stdout = await page.locator(`#m-${id}-step-2 pre.stdout`).innerText();
    expect(stdout).toContain('<script>window.pwned="script"</script>');
    expect(stdout).toContain('"><img src=x onerror="window.pwned=1">');
    expect(stdout).toContain('\u241b[31mred\u241b[0m and a bell\u2407');
    expect(await page.locator('.summary .goal').innerText()).toContain(`<img src=x onerror="window.pwned='goal'">`);
    // Ten thousand characters on one line wrap inside the page: nothing scrolls sideways (seen on screen, where
    // the step is laid out).
    await page.locator(`#m-${id}-step-2 pre.stdout`).scrollIntoViewIfNeeded();
    expect(await page.evaluate(() => (globalThis as unknown as InPage).document.documentElement.scrollWidth <= (globalThis as unknown as InPage).innerWidth)).toBe(true);
    const bytes = await context.request.get(`${base}${await page.locator(`#m-${id}-step-2 .output a[download]`).getAttribute('href')}`);
    expect(Buffer.from(await bytes.body())).toEqual(Buffer.from('\u0000\u00ff\u00febinary', 'latin1'));
  };
  await inert();
  await page.reload();
  await page.locator(`#m-${id}-step-2`).waitFor();
  await inert();
  await context.close();
});

test('a scored batch of epochs shows its mean, interval, pass@k, distribution and scorer errors; the compare view its difference; hostile explanations inert', async () => {
  const hostile = '<img src=x onerror="window.pwned=4"> & </dd><script>window.pwned=5</script>';
  // Scored 1 on every epoch, 0.5 on every epoch with a hostile explanation, and a scorer that times out.
  const scored = (custom_id: string, command: string, timeout_s = 30) => ({ custom_id, goal: `scored ${custom_id}`, plan: [shell('true')], scorer: { command, timeout_s } });
  const missions = [
    scored('full', 'exit 0'),
    scored('half', `printf '%s\\n' '${JSON.stringify({ score: 0.5, explanation: hostile })}'`),
    scored('stuck', 'sleep 30', 1),
  ];
  const first = await api<{ batch_id: string }>('POST', '/v1/missions/batch', { epochs: 2, missions }, keys.alpha);
  expect(first.status).toBe(202);
  await batchEnded(first.body.batch_id, keys.alpha);
  const second = await api<{ batch_id: string }>('POST', '/v1/missions/batch', { epochs: 2, missions: [scored('full', 'exit 1'), ...missions.slice(1)] }, keys.alpha);
  await batchEnded(second.body.batch_id, keys.alpha);
  const { context, page } = await signedIn(keys.alpha);

  await page.goto(`${base}/console/batches/${first.body.batch_id}`);
  // Item means 1 and 0.5 (stuck errored): mean 0.75, stderr 0.25, pass@1 and pass@2 0.5 (half never passes 1).
  expect(await page.locator('#score-mean').innerText()).toMatch(/^0\.750 ± 0\.250 · 95% interval 0\.260 to 1\.240$/);
  expect(await page.locator('[data-pass-at="1"]').innerText()).toBe('0.500');
  expect(await page.locator('[data-pass-at="2"]').innerText()).toBe('0.500');
  expect(await page.locator('#score-errored').innerText()).toBe('1 errored');
  expect(await page.locator('[data-bin="5"]').innerText()).toBe('1');
  expect(await page.locator('[data-bin="9"]').innerText()).toBe('1');
  expect(await page.locator('.score-errors li').count()).toBe(2);
  expect(await page.locator('.score-errors li').first().innerText()).toMatch(/stuck: .*timed out/);

  const listed = await api<{ data: { id: string; custom_id: string }[] }>('GET', `/v1/missions?batch_id=${first.body.batch_id}&limit=10`, undefined, keys.alpha);
  await page.goto(`${base}/console/missions/${listed.body.data.find((mission) => mission.custom_id === 'half')!.id}`);
  expect(await page.locator('.summary .score').innerText()).toContain(hostile);
  expect(await page.locator('main img, main script').count()).toBe(0);

  await page.goto(`${base}/console/batches/${second.body.batch_id}?compare=${first.body.batch_id}`);
  expect(await page.locator('#difference').innerText()).toMatch(/^Mean score 0\.750 there, 0\.250 here, over 2 items: -0\.500, 95% interval -6\.853 to 5\.853, p = 0\.50: within noise at 0\.05\.$/);
  expect(await page.evaluate(() => (globalThis as unknown as InPage).pwned)).toBeUndefined();
  await context.close();
});

test("a task's setup steps are marked, and its artifacts listed and downloadable, hostile names inert", async () => {
  const name = 'out/<img src=x onerror="window.pwned=3">.txt';
  const id = await submit(keys.alpha, {
    goal: 'leave a file',
    environment: { setup: [shell('mkdir -p out')] },
    artifacts: ['out/*'],
    plan: [{ tool: 'write_file', input: { path: name, content: 'kept bytes' } }],
  });
  await statusBecomes(id, ['succeeded'], keys.alpha);
  const { context, page } = await signedIn(keys.alpha);
  await page.goto(`${base}/console/missions/${id}`);

  const link = page.locator('.artifacts a[download]');
  expect(await link.innerText()).toBe(name);
  expect(await page.locator('main img').count()).toBe(0);
  expect(await page.evaluate(() => (globalThis as unknown as InPage).pwned)).toBeUndefined();
  const downloaded = await context.request.get(`${base}${await link.getAttribute('href')}`);
  expect(await downloaded.text()).toBe('kept bytes');
  expect(await page.locator(`#m-${id}-step-1 .setup`).innerText()).toBe('setup');
  expect(await page.locator(`#m-${id}-step-2 .setup`).count()).toBe(0);
  await context.close();
});

test('the admin sees every tenant and the fleet: workers, their sandboxes, queue depth and throughput', async () => {
  const { context, page } = await signedIn(env.config.ADMIN_API_KEY);
  await page.locator('#missions tbody tr').nth(5).waitFor();
  await page.goto(`${base}/console/fleet`);
  await page.locator(`tr[data-worker="${env.owner}"]`).waitFor();
  await page.locator('#throughput-chart[data-drawn="true"]').waitFor();
  const [, completed] = await chartData(page, 'throughput-chart');
  expect(completed!.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(10);
  expect(Number(await page.locator('[data-state="completed"]').innerText())).toBeGreaterThan(10);
  await page.screenshot({ path: join(pictures, 'console-fleet.png'), fullPage: true });
  await context.close();
});

test('missions report writes one HTML file that opens from disk, with no server, and shows every mission', async () => {
  const batch = await api<{ batch_id: string; items: { id: string }[] }>('POST', '/v1/missions/batch', {
    missions: [
      { custom_id: 'passes', goal: 'passes', plan: [shell('echo report me')] },
      { custom_id: 'fails', goal: 'fails', plan: [shell('echo "<script>window.pwned=1</script>" >&2; exit 2')] },
      { custom_id: 'slow', goal: 'slow', plan: [shell('sleep 0.5'), shell('echo slept')] },
    ],
  }, keys.alpha);
  await batchEnded(batch.body.batch_id, keys.alpha);
  const output = join(mkdtempSync(join(tmpdir(), 'report-')), 'report.html');
  const run = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(process.execPath, [BIN, 'report', batch.body.batch_id, '-o', output], { env: { ...process.env, MISSIONS_URL: base, MISSIONS_API_KEY: keys.alpha } }, (error, _stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr }),
    ),
  );
  expect(run).toEqual({ code: 0, stderr: '' });
  await stopProcess(server);

  const context = await browser.newContext();
  const page = await context.newPage();
  const requests: string[] = [];
  page.on('request', (request) => void (request.url().startsWith('file:') || request.url().startsWith('data:') || requests.push(request.url())));
  await page.goto(pathToFileURL(output).href);
  await page.locator('#durations-chart[data-drawn="true"]').waitFor();
  expect(await page.locator('details.mission-trace').count()).toBe(3);
  for (const item of batch.body.items) expect(await page.locator(`#m-${item.id}`).count()).toBe(1);
  await page.click(`#missions-index a[href="#m-${batch.body.items[2]!.id}"]`);
  await page.locator(`#m-${batch.body.items[2]!.id} pre.stdout`, { hasText: 'slept' }).waitFor();
  expect(await page.evaluate(() => (globalThis as unknown as InPage).pwned)).toBeUndefined();
  expect(requests).toEqual([]);
  await context.close();
});

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runMissions, type CliRun } from './cliRun';
import { createTenant, shell, usePlatform } from './platform';
import { freePort } from './services';
import { waitFor } from './waitFor';

// The `missions` command as users and CI run it: a real process against the running API and worker.
// Webhooks may point at loopback port 9 (nothing listens there): enough to add, list and remove one.
const context = usePlatform({ env: { WORKER_CONCURRENCY: '6', SANDBOX_POOL_SIZE: '3', WEBHOOK_URL_ALLOWLIST: 'http://127.0.0.1:9' } });
const BIN = join(__dirname, '..', 'bin', 'missions.js');
const dir = mkdtempSync(join(tmpdir(), 'mc-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Run = CliRun;

const missions = (args: string[], env: Record<string, string> = {}, input?: string): Promise<Run> =>
  runMissions(args, { MISSIONS_URL: `http://127.0.0.1:${context.platform.api.port}`, MISSIONS_API_KEY: context.env.config.ADMIN_API_KEY, ...env }, input);

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const missionCount = async () => Number((await context.env.db('missions').count({ n: '*' }))[0]!.n);

test('submit --wait reports every mission: --json on stdout, a JUnit report CI systems read, exit 1 when one failed', async () => {
  const content = JSON.stringify(
    [
      { goal: 'first', plan: [shell('echo one')], metadata: { name: 'prints one' } },
      { goal: 'second fails', plan: [shell('echo about to fail; exit 3')] },
      { goal: 'third', plan: [shell('echo three')] },
    ],
    null,
    2,
  );
  const path = file('mixed.json', content);
  const starts = content.split('\n').flatMap((line, index) => (line === '  {' ? [index + 1] : []));
  const junit = join(dir, 'report.xml');

  const run = await missions(['submit', path, '--wait', '--json', '--junit', junit]);

  expect(run.code).toBe(1);
  const results = JSON.parse(run.stdout) as { line: number; id: string; status: string; error: { code: string } | null }[];
  expect(results.map((result) => [result.line, result.status])).toEqual([
    [starts[0], 'succeeded'],
    [starts[1], 'failed'],
    [starts[2], 'succeeded'],
  ]);
  expect(results[1]!.error!.code).toBe('ERR_STEP_FAILED');
  const xml = readFileSync(junit, 'utf8');
  expect(xml).toMatch(/<testsuites name="missions" tests="3" failures="1" errors="0" skipped="0"/);
  expect(xml.match(/<testcase /g)).toHaveLength(3);
  expect(xml).toContain('<testcase classname="missions" name="prints one"');
  expect(xml).toMatch(/<failure type="ERR_STEP_FAILED" message="the step exited with code 3">[^<]*last output:\nabout to fail/);
  // Progress went to stderr as plain lines: this is no terminal.
  expect(run.stderr).toMatch(/^progress: 3\/3 done \(succeeded 2, failed 1/m);
});

test('submitting the same file again creates nothing new; --force submits it again', async () => {
  const path = file('same.jsonl', `${JSON.stringify({ goal: 'once', plan: [shell('true')] })}\n${JSON.stringify({ goal: 'twice', plan: [shell('true')] })}\n`);
  const first = await missions(['submit', path, '--json']);
  const before = await missionCount();

  const again = await missions(['submit', path, '--json']);

  expect([first.code, again.code]).toEqual([0, 0]);
  expect(JSON.parse(again.stdout).missions).toEqual(JSON.parse(first.stdout).missions);
  expect(await missionCount()).toBe(before);
  const forced = await missions(['submit', path, '--json', '--force']);
  expect(forced.code).toBe(0);
  expect(await missionCount()).toBe(before + 2);
});

test('a bad file is exit 2, naming the line and the field, and nothing is submitted', async () => {
  const before = await missionCount();
  const lines = Array.from({ length: 6 }, (_, i) => JSON.stringify({ goal: `ok ${i}`, plan: [shell('true')] }));
  const unknownField = await missions(['submit', file('bad.jsonl', [...lines, JSON.stringify({ goal: 'typo', plan: [shell('true')], priority: 9 })].join('\n'))]);
  const notJson = await missions(['submit', file('bad.json', '{"goal": "x", plan: [')]);
  const missing = await missions(['submit', join(dir, 'nowhere.json')]);
  const twice = await missions(['submit', file('twice.jsonl', [lines[0], JSON.stringify({ goal: 'b', metadata: { name: 'same' }, plan: [shell('true')] }), JSON.stringify({ goal: 'c', custom_id: 'same', plan: [shell('true')] })].join('\n'))]);

  expect([unknownField.code, notJson.code, missing.code, twice.code]).toEqual([2, 2, 2, 2]);
  expect(twice.stderr).toMatch(/twice\.jsonl line 3: custom_id "same" is that of line 2 already/);
  expect(unknownField.stderr).toMatch(/bad\.jsonl line 7: .*priority/);
  expect(notJson.stderr).toMatch(/bad\.json line 1 is not JSON/);
  expect(await missionCount()).toBe(before);
});

test('a server that cannot be reached is exit 3; a refused key too', async () => {
  const closed = await freePort();
  const unreachable = await missions(['list'], { MISSIONS_URL: `http://127.0.0.1:${closed}` });
  const refused = await missions(['list'], { MISSIONS_API_KEY: 'mc_not-a-key-not-a-key-not-a-key-00' });

  expect([unreachable.code, refused.code]).toEqual([3, 3]);
  expect(unreachable.stderr).toMatch(/cannot reach/);
  expect(refused.stderr).toMatch(/401/);
});

test('--timeout gives up waiting with exit 4; cancel stops the mission, and a second cancel is exit 1', async () => {
  const path = file('slow.json', JSON.stringify({ goal: 'slow', plan: [shell('sleep 30')] }));

  const waited = await missions(['submit', path, '--wait', '--timeout', '1', '--json']);

  expect(waited.code).toBe(4);
  const [slow] = JSON.parse(waited.stdout) as { id: string; status: string }[];
  expect(['queued', 'running']).toContain(slow!.status);
  expect((await missions(['cancel', slow!.id])).code).toBe(0);
  expect((await missions(['cancel', slow!.id])).code).toBe(1);
});

test('--fail-fast cancels the rest once a mission fails', async () => {
  const path = file(
    'failfast.json',
    JSON.stringify([{ goal: 'fails', plan: [shell('exit 1')] }, ...Array.from({ length: 3 }, (_, i) => ({ goal: `long ${i}`, plan: [shell('sleep 30')] }))]),
  );
  const started = Date.now();

  const run = await missions(['submit', path, '--wait', '--fail-fast', '--json']);

  expect(run.code).toBe(1);
  // Without the cancel, the other missions would sleep their 30 s.
  expect(Date.now() - started).toBeLessThan(20_000);
  expect((JSON.parse(run.stdout) as { status: string }[]).map((result) => result.status)).toEqual(['failed', 'cancelled', 'cancelled', 'cancelled']);
});

test('status, list, logs, logs --follow and batch show a mission; missions read from stdin', async () => {
  const submitted = await missions(['submit', '-', '--json'], {}, JSON.stringify({ goal: 'from stdin', plan: [shell('echo alpha'), shell('echo beta')] }));
  const { id } = (JSON.parse(submitted.stdout) as { missions: { id: string }[] }).missions[0]!;
  const batchId = (JSON.parse(submitted.stdout) as { batches: string[] }).batches[0]!;

  const followed = await missions(['logs', id, '--follow']);

  expect(followed.code).toBe(0);
  expect(followed.stdout).toMatch(/#1 shell \(\d+ ms\) exit 0[^\n]*\n {4}alpha\n#2 shell \(\d+ ms\) exit 0[^\n]*\n {4}beta\n\[succeeded\]/);
  expect((await missions(['logs', id])).stdout).toMatch(/^#1 shell/);
  expect((await missions(['status', id])).stdout).toMatch(new RegExp(`^${id} succeeded — from stdin\nsteps 2`));
  expect(JSON.parse((await missions(['status', id, '--json'])).stdout)).toMatchObject({ id, status: 'succeeded' });
  expect((await missions(['list', '--batch', batchId])).stdout).toMatch(new RegExp(`^${id} succeeded`));
  expect((await missions(['batch', batchId])).stdout).toMatch(/: ended, 1 items\nsucceeded 1\nusage: 0 tokens in, 0 out, \$0\.0000\nduration: p50/);
});

test('approve and reject a step that waits for a human; tenants create prints the new key once', async () => {
  const plan = [{ tool: 'python', input: { code: 'print("approved")' } }];
  const submitted = await missions(['submit', '-', '--json'], {}, [JSON.stringify({ goal: 'approve me', plan, require_approval: ['python'] }), JSON.stringify({ goal: 'reject me', plan, require_approval: ['python'] })].join('\n'));
  const [toApprove, toReject] = (JSON.parse(submitted.stdout) as { missions: { id: string }[] }).missions;
  for (const { id } of [toApprove!, toReject!]) await waitForStatus(id, 'waiting_approval');

  expect((await missions(['approve', toApprove!.id])).code).toBe(0);
  expect((await missions(['reject', toReject!.id, '--reason', 'not today'])).code).toBe(0);
  expect((await context.platform.waitForMission(toApprove!.id)).status).toBe('succeeded');
  expect((await context.platform.waitForMission(toReject!.id)).error).toMatchObject({ code: 'ERR_REJECTED' });

  const created = await missions(['tenants', 'create', 'from-the-cli', '--rate-limit', '100']);
  expect(created.code).toBe(0);
  const key = created.stdout.trim().split('\n').at(-1)!;
  expect(key).toMatch(/^mc_/);
  expect((await missions(['list'], { MISSIONS_API_KEY: key })).code).toBe(0);
  // Only the admin creates tenants: a tenant's key is refused.
  const tenant = await createTenant(context.platform, 'not-admin');
  expect((await missions(['tenants', 'create', 'x'], { MISSIONS_API_KEY: tenant.authorization!.slice(7) })).code).toBe(3);
});

test('--verbose shows each request and never the key; usage errors are exit 2', async () => {
  const run = await missions(['--verbose', 'list', '--limit', '1']);

  expect(run.code).toBe(0);
  expect(run.stderr).toMatch(/GET \/v1\/missions\?limit=1 -> 200/);
  expect(`${run.stdout}${run.stderr}`).not.toContain(context.env.config.ADMIN_API_KEY);
  expect((await missions(['submit'])).code).toBe(2);
  expect((await missions(['list', '--limit', 'zero'])).code).toBe(2);
  expect((await missions(['list'], { MISSIONS_API_KEY: '' })).code).toBe(2);
});

test('an evaluation from the command line: custom ids from the file, the results file, retry of the failures, a diff that fails on what broke, webhooks', async () => {
  const run = (fails: string[]) =>
    [
      { custom_id: 'alpha', goal: 'a' },
      { metadata: { name: 'beta' }, goal: 'b' },
      { goal: 'unnamed' },
      { custom_id: 'delta', goal: 'd' },
    ]
      .map((mission, i) => JSON.stringify({ ...mission, plan: [shell(fails.includes(String(i)) ? 'exit 3' : 'true')] }))
      .join('\n');
  const junit = join(dir, 'eval.xml');
  const yesterday = await missions(['submit', file('yesterday.jsonl', run(['1'])), '--wait', '--junit', junit]);
  expect(yesterday.code).toBe(1);
  expect(yesterday.stdout).toMatch(/\nusage: 0 tokens in, 0 out, \$0\.0000\n$/);
  expect(readFileSync(junit, 'utf8')).toContain('<property name="custom_id" value="alpha"/>');
  const yesterdayBatch = /batch\(es\): (\S+)/.exec(yesterday.stderr)![1]!;

  const output = join(dir, 'results.jsonl');
  expect((await missions(['batch', 'results', yesterdayBatch, '-o', output])).code).toBe(0);
  const lines = readFileSync(output, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { custom_id: string; status: string; attempt: number });
  expect(lines.map((line) => [line.custom_id, line.status])).toEqual([['alpha', 'succeeded'], ['beta', 'failed'], ['line-3', 'succeeded'], ['delta', 'succeeded']]);
  const failedOnly = await missions(['batch', 'results', yesterdayBatch, '--status', 'failed']);
  expect(failedOnly.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { custom_id: string }).custom_id)).toEqual(['beta']);

  const retried = await missions(['batch', 'retry', yesterdayBatch, '--wait']);
  expect(retried.code).toBe(1); // beta fails again
  expect(retried.stdout).toMatch(/ended, 4 items \(5 attempts\)\nsucceeded 3, failed 1/);
  // The same file again creates nothing, and reports each item's latest attempt.
  const again = await missions(['submit', join(dir, 'yesterday.jsonl'), '--wait', '--json']);
  const latest = (JSON.parse(again.stdout) as { id: string; custom_id: string }[]).find((result) => result.custom_id === 'beta')!;
  expect(latest.id).toBe((await context.env.db('missions').where({ batch_id: yesterdayBatch, custom_id: 'beta', attempt: 2 }).first('id')).id);

  const today = await missions(['submit', file('today.jsonl', run(['3'])), '--wait']);
  const todayBatch = /batch\(es\): (\S+)/.exec(today.stderr)![1]!;
  const diff = await missions(['batch', 'diff', todayBatch, yesterdayBatch]);
  expect(diff.code).toBe(1);
  expect(diff.stdout).toMatch(/^fixed +beta\nbroken +delta — ERR_STEP_FAILED: the step exited with code 3\n/);
  expect(diff.stdout).toMatch(/broken 1, fixed 1, still failing 0, still passing 2/);
  expect((await missions(['batch', 'diff', todayBatch, todayBatch])).code).toBe(0);

  const added = await missions(['webhooks', 'add', 'http://127.0.0.1:9/hooks', '--events', 'mission.ended,batch.ended']);
  expect(added.code).toBe(0);
  const [announcement, secret] = added.stdout.trim().split('\n');
  expect(secret).toMatch(/^whsec_/);
  const hookId = /^webhook (\S+)/.exec(announcement!)![1]!;
  expect((await missions(['webhooks', 'list'])).stdout).toContain(`${hookId} http://127.0.0.1:9/hooks mission.ended,batch.ended`);
  expect((await missions(['webhooks', 'add', 'http://127.0.0.1:8/hooks'])).code).toBe(2);
  expect((await missions(['webhooks', 'rm', hookId])).code).toBe(0);
  expect((await missions(['webhooks', 'list'])).stdout).not.toContain(hookId);
});

async function waitForStatus(id: string, status: string): Promise<void> {
  await waitFor(async () => ((await (await context.platform.request('GET', `/v1/missions/${id}`)).json()) as { status: string }).status === status);
}

test('on a terminal, submit --wait draws a progress bar that redraws in place and ends at 100%', async () => {
  const path = file('tty.json', JSON.stringify(Array.from({ length: 4 }, (_, i) => ({ goal: `tick ${i}`, plan: [shell(`sleep ${0.5 + i * 0.5}`)] }))));
  const command = [process.execPath, BIN, 'submit', path, '--wait'].map((part) => `'${part}'`).join(' ');

  // `script` runs the command in a real pseudo-terminal and copies what it draws.
  const run = await new Promise<Run>((resolve) =>
    execFile(
      'script',
      ['-qfec', command, '/dev/null'],
      { env: { ...process.env, MISSIONS_URL: `http://127.0.0.1:${context.platform.api.port}`, MISSIONS_API_KEY: context.env.config.ADMIN_API_KEY } },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );

  expect(run.code).toBe(0);
  // Each frame is drawn over the last: back to column 1 (ESC [1G), the bar, clear to the end of the line.
  const redraws = run.stdout.split('\u001b[1G').filter((frame) => /\d+% \| \d\/4 done/.test(frame));
  expect(redraws.length).toBeGreaterThan(2);
  expect(redraws.at(-1)).toMatch(/100% \| 4\/4 done \| succeeded 4 failed 0/);
  expect(run.stdout).not.toMatch(/^progress:/m);
  expect(run.stdout).toMatch(/4 missions: 4 succeeded/);
});

test("the CI example's missions all pass, as the example workflow expects, and its HTML report holds each trace", async () => {
  const [junit, html] = [join(dir, 'ci.xml'), join(dir, 'ci.html')];

  const run = await missions(['submit', join(__dirname, '..', 'examples', 'ci-missions.jsonl'), '--wait', '--junit', junit, '--report', html, '--force']);

  expect([run.code, ...run.stdout.trim().split('\n').slice(-2)]).toEqual([0, '5 missions: 5 succeeded', 'usage: 0 tokens in, 0 out, $0.0000']);
  expect(readFileSync(junit, 'utf8')).toMatch(/tests="5" failures="0" errors="0" skipped="0"/);
  const report = readFileSync(html, 'utf8');
  expect(report.match(/<details class="mission-trace">/g)).toHaveLength(5);
  expect(report).not.toContain('src="/console/assets');
});

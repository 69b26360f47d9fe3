import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApi, type RunningApi } from '../apps/api';
import { alertRules } from '../grafana/alerts';
import { dashboards } from '../grafana/dashboards';
import { metricsAccess } from '../lib/metricsAccess';
import { serveMetrics } from '../lib/metricsServer';
import { startWorker, type RunningWorker } from '../apps/worker';
import { startFakeLlm, textReply, type FakeLlm } from './fakeLlm';
import { createTestEnv, testLogger, type TestEnv } from './harness';
import { shell } from './platform';
import { freePort } from './services';
import { waitFor } from './waitFor';

// Debian's Prometheus scrapes a real API and a real worker (each on its own /metrics, as when they run apart)
// while they run a small batch; every query of every dashboard panel and alert rule must then return series.

let llm: FakeLlm;
let env: TestEnv;
let api: RunningApi;
let worker: RunningWorker;
let workerMetrics: { port: number; close(): Promise<void> };
let prometheus: ChildProcess;
let prometheusUrl: string;
const dataDir = mkdtempSync(join(tmpdir(), 'mc-prometheus-'));

beforeAll(async () => {
  llm = await startFakeLlm();
  env = await createTestEnv({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'm', LLM_PRICES: JSON.stringify({ m: { input: 0.15, output: 0.6 } }) });
  api = await startApi(env.config, testLogger());
  worker = await startWorker(env.config, testLogger(), env.owner);
  workerMetrics = await serveMetrics(worker.metrics, 0, metricsAccess(undefined, true));
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  // The repository's jobs and rules, at this test's ports, scraped every second.
  writeFileSync(
    join(dataDir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: ['${join(__dirname, '..', 'grafana', 'alerts.yml')}']
scrape_configs:
  - { job_name: mission-control-api, static_configs: [{ targets: ['127.0.0.1:${api.port}'] }] }
  - { job_name: mission-control-worker, static_configs: [{ targets: ['127.0.0.1:${workerMetrics.port}'] }] }
`,
  );
  prometheus = spawn('prometheus', [`--config.file=${join(dataDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dataDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  await waitFor(async () => (await fetch(`${prometheusUrl}/-/ready`).catch(() => undefined))?.ok === true, 30_000);
});

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    prometheus.kill('SIGTERM');
    await once(prometheus, 'exit');
  }
  rmSync(dataDir, { recursive: true, force: true });
  await workerMetrics?.close();
  await worker?.close();
  await api?.close();
  await env?.cleanup();
  await llm?.close();
});

async function query(expr: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> {
  return (await (await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { status: string; data?: { result: unknown[] } };
}

test('every dashboard query and every alert rule returns series from real traffic, and the rules load', async () => {
  llm.reply({ ...textReply('done'), usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 } });
  const missions = [
    { goal: 'works', plan: [shell('echo ok')] },
    { goal: 'fails', plan: [shell('exit 3')] },
    { goal: 'finishes at once', plan: [{ tool: 'finish', input: { result: 1 } }] },
    { goal: 'asks the model', policy: 'openai' },
  ];
  const response = await fetch(`http://127.0.0.1:${api.port}/v1/missions/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.config.ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ missions }),
  });
  expect(response.status).toBe(202);
  await waitFor(async () => Number((await env.db('missions').whereIn('status', ['queued', 'running']).count({ n: '*' }))[0]!.n) === 0, 60_000);

  const health = async () => ((await (await fetch(`${prometheusUrl}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string }[] } }).data.activeTargets.map((target) => target.health);
  await waitFor(async () => (await health()).join() === 'up,up', 15_000).catch(() => undefined);
  expect(await health()).toEqual(['up', 'up']);
  const expressions = [
    ...Object.values(dashboards).flatMap((dashboard) => (dashboard.panels ?? []).flatMap((panel) => ('targets' in panel ? panel.targets ?? [] : []).map((target) => (target as unknown as { expr: string }).expr))),
    ...alertRules.map((rule) => rule.query),
  ];
  expect(expressions.length).toBeGreaterThan(30);
  const empty = new Set(expressions);
  // Rates need two scrapes after the traffic: ask until each query has series, or time runs out.
  await waitFor(async () => {
    for (const expr of [...empty]) {
      const answer = await query(expr);
      expect([expr, answer.status, answer.error]).toEqual([expr, 'success', undefined]);
      if ((answer.data?.result.length ?? 0) > 0) empty.delete(expr);
    }
    return empty.size === 0;
  }, 30_000).catch(() => undefined);
  expect([...empty]).toEqual([]);

  const rules = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
  const loaded = rules.data.groups.flatMap((group) => group.rules);
  expect(loaded.map((rule) => rule.name).sort()).toEqual(alertRules.map((rule) => rule.alert).sort());
  await waitFor(async () => {
    const now = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as typeof rules;
    return now.data.groups.flatMap((group) => group.rules).every((rule) => rule.health === 'ok');
  }, 15_000);
});

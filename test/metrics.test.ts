import { execFileSync } from 'node:child_process';
import { metricsAccess } from '../lib/metricsAccess';
import { serveMetrics } from '../lib/metricsServer';
import { usePlatform } from './platform';

// Each process's /metrics against Prometheus's naming rules, with promtool as the judge of our own metrics.
const context = usePlatform();
const DEFAULTS = /^(process_|nodejs_)/;
// A label named like one of these would make a series per mission, tenant or worker: ids stay out of labels.
const ID_LABEL = /(^|_)(id|mission|tenant|worker|sandbox|container|job|instance)$/;
// Quantities measured in time carry the base unit.
const TIMED = /(duration|latency|wait|pickup|flush|lag)/;

interface Family {
  name: string;
  type: string;
  labels: Set<string>;
}

function families(text: string): Family[] {
  const found = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const typed = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (typed) found.set(typed[1]!, { name: typed[1]!, type: typed[2]!, labels: new Set() });
    const sample = /^([a-zA-Z_:][\w:]*?)(?:_bucket|_sum|_count)?\{([^}]*)\}/.exec(line);
    const family = sample && (found.get(sample[1]!) ?? found.get(line.slice(0, line.indexOf('{'))));
    if (family) for (const pair of sample![2]!.split(',')) family.labels.add(pair.slice(0, pair.indexOf('=')));
  }
  return [...found.values()].filter((family) => !DEFAULTS.test(family.name));
}

async function scrape(url: string): Promise<string> {
  return (await fetch(url)).text();
}

test("the API's and a worker's metrics follow the naming rules, and promtool finds nothing to say", async () => {
  const { platform } = context;
  const created = await platform.request('POST', '/v1/missions', { goal: 'counted', plan: [{ tool: 'shell', input: { command: 'echo hi' } }] });
  // The step's metric is observed before the step is recorded, so it is there once the mission has ended.
  expect(await platform.waitForMission(((await created.json()) as { id: string }).id)).toMatchObject({ status: 'succeeded' });
  const workerServer = await serveMetrics(platform.worker!.metrics, 0, metricsAccess(undefined, true));
  try {
    for (const url of [`http://127.0.0.1:${platform.api.port}/metrics`, `http://127.0.0.1:${workerServer.port}/metrics`]) {
      const text = await scrape(url);
      const ours = families(text);
      expect(ours.length).toBeGreaterThan(20);
      for (const family of ours) {
        expect([family.name, family.type === 'counter']).toEqual([family.name, family.name.endsWith('_total')]);
        if (TIMED.test(family.name)) expect(family.name).toMatch(/_seconds$/);
        for (const label of family.labels) expect([family.name, label, ID_LABEL.test(label)]).toEqual([family.name, label, false]);
      }
      const ownLines = text.split('\n').filter((line) => !DEFAULTS.test(line.replace(/^# (HELP|TYPE) /, ''))).join('\n');
      expect(execFileSync('promtool', ['check', 'metrics'], { input: ownLines }).toString()).toBe('');
    }
    const worker = await scrape(`http://127.0.0.1:${workerServer.port}/metrics`);
    for (const series of ['missions_started_total 1', 'sandbox_pool_sandboxes{state="idle"}', 'mission_step_duration_seconds_count{tool="shell",outcome="ok"} 1']) {
      expect(worker).toContain(series);
    }
    expect(await scrape(`http://127.0.0.1:${platform.api.port}/metrics`)).toMatch(/mission_workers_alive 1/);
  } finally {
    await workerServer.close();
  }
});

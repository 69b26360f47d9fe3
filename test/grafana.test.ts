import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATASOURCE } from '../grafana/dashboards';
import { generatedFiles } from '../grafana/generate';

const grafana = join(__dirname, '..', 'grafana');

test('the committed dashboards and alert rules are what their code generates (npm run grafana)', () => {
  for (const [file, text] of Object.entries(generatedFiles())) expect([file, readFileSync(join(grafana, file), 'utf8')]).toEqual([file, text]);
});

test("promtool accepts the alert rules and the scrape configuration; the dashboards use the provisioned data source's uid", () => {
  expect(execFileSync('promtool', ['check', 'rules', join(grafana, 'alerts.yml')]).toString()).toMatch(/SUCCESS: 10 rules found/);
  expect(execFileSync('promtool', ['check', 'config', join(grafana, 'prometheus.yml')]).toString()).toMatch(/is valid prometheus config file/);
  expect(readFileSync(join(grafana, 'provisioning', 'datasources', 'prometheus.yaml'), 'utf8')).toContain(`uid: ${DATASOURCE.uid}`);
});

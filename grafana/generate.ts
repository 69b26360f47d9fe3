// `npm run grafana`: writes the dashboards (grafana/dashboards/*.json) and the alert rules (grafana/alerts.yml)
// from their code. test/grafana.test.ts fails when the files are not what this writes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alertRulesYaml } from './alerts';
import { dashboards } from './dashboards';

export const generatedFiles = (): Record<string, string> => ({
  ...Object.fromEntries(Object.entries(dashboards).map(([name, dashboard]) => [`dashboards/${name}.json`, `${JSON.stringify(dashboard, null, 2)}\n`])),
  'alerts.yml': alertRulesYaml(),
});

if (require.main === module) {
  for (const [file, text] of Object.entries(generatedFiles())) writeFileSync(join(__dirname, file), text);
}

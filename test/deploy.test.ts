import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { parseAllDocuments } from 'yaml';
import { manifests, manifestsYaml } from '../deploy/kubernetes';

// The Kubernetes manifests are generated with typed models: each validates against its schema, the committed
// YAML is what the code makes now, and it holds what the platform relies on. No cluster runs them here.
const committed = readFileSync(join(__dirname, '..', 'deploy', 'kubernetes.yaml'), 'utf8');
const byKind = (kind: string) => parseAllDocuments(committed).map((document) => document.toJS()).filter((object) => object.kind === kind);

test('the committed manifests are what deploy/kubernetes.ts makes, and each validates against its schema', () => {
  expect(committed).toBe(manifestsYaml());
  for (const manifest of manifests) expect(() => manifest.validate()).not.toThrow();
  // The schemas do catch a broken object.
  expect(() => new Deployment({ metadata: { name: 'broken' }, spec: { template: {} } } as never).validate()).toThrow();
});

test('API behind readiness, workers named by their pods with the shutdown time, budgets, gVisor and scaling on queue depth', () => {
  const [api] = byKind('Deployment');
  expect(api.spec.template.spec.containers[0].readinessProbe.httpGet.path).toBe('/readyz');
  const [workers] = byKind('StatefulSet');
  const worker = workers.spec.template.spec;
  expect(worker.containers[0].env).toContainEqual({ name: 'WORKER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
  const [settings] = byKind('ConfigMap');
  expect(worker.terminationGracePeriodSeconds).toBe(Number(settings.data.SHUTDOWN_TIMEOUT_MS) / 1000 + 5);
  expect(byKind('PodDisruptionBudget').map((budget) => budget.metadata.name).sort()).toEqual(['mission-control-api', 'mission-control-worker']);
  expect(byKind('RuntimeClass')).toEqual([expect.objectContaining({ handler: 'runsc' })]);
  const [scaling] = byKind('ScaledObject');
  expect(scaling.spec.scaleTargetRef).toMatchObject({ kind: 'StatefulSet', name: workers.metadata.name });
  expect(scaling.spec.triggers[0].metadata.query).toContain('mission_queue_jobs');
});

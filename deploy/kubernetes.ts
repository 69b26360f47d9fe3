// Kubernetes manifests as code, with typed models validated by their schemas: `npm run deploy:manifests` writes
// deploy/kubernetes.yaml, and test/deploy.test.ts checks the file is what this code makes. Validated, never run:
// no Kubernetes server is reachable from the machines this was written on (see docs/deployment.md).
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { RuntimeClass } from 'kubernetes-models/node.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service, type IContainer, type IEnvVar } from 'kubernetes-models/v1';
import { stringify } from 'yaml';
import { DEFAULT_POOL_OPTIONS } from '../sandbox/pool';

const NAMESPACE = 'mission-control';
const IMAGE = 'mission-control:latest';
/** Worker nodes: Docker Engine with runsc registered (what scripts/bootstrap.sh sets up), labelled so. */
const SANDBOX_NODES = { 'mission-control.dev/sandboxes': 'gvisor' };
const SHUTDOWN_TIMEOUT_MS = 30_000;
const WORKER_CONCURRENCY = 4;
const labels = (component: string) => ({ 'app.kubernetes.io/name': 'mission-control', 'app.kubernetes.io/component': component });

/** Settings every process shares; secrets (DATABASE_URL, REDIS_URL, ADMIN_API_KEY, SESSION_SECRET, METRICS_TOKEN) come from the operator's Secret. */
const settings = new ConfigMap({
  metadata: { name: 'mission-control', namespace: NAMESPACE },
  data: {
    QUEUE_PREFIX: '{mc}',
    SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
    SANDBOX_POOL_SIZE: String(DEFAULT_POOL_OPTIONS.size),
    SANDBOX_RUNTIME: 'runsc',
    METRICS_PORT: '9464',
    LOG_LEVEL: 'info',
  },
});

const fromSettings = { envFrom: [{ configMapRef: { name: 'mission-control' } }, { secretRef: { name: 'mission-control' } }] };

const container = (name: string, command: string[], extra: Partial<IContainer>): IContainer => ({
  name,
  image: IMAGE,
  command,
  ...fromSettings,
  securityContext: { runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
  ...extra,
});

const api = new Deployment({
  metadata: { name: 'mission-control-api', namespace: NAMESPACE, labels: labels('api') },
  spec: {
    replicas: 2,
    selector: { matchLabels: labels('api') },
    template: {
      metadata: { labels: labels('api'), annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '3000' } },
      spec: {
        terminationGracePeriodSeconds: SHUTDOWN_TIMEOUT_MS / 1000 + 5,
        // Migrations before the API answers; of two pods at once, one holds knex's lock and the other's init fails
        // and is run again by Kubernetes.
        initContainers: [container('migrate', ['node', 'dist/scripts/migrate.js'], {})],
        containers: [
          container('api', ['node', 'dist/apps/api.js'], {
            ports: [{ name: 'http', containerPort: 3000 }],
            readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 2 },
            livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 3 },
            resources: { requests: { cpu: '500m', memory: '256Mi' }, limits: { memory: '1Gi' } },
          }),
        ],
      },
    },
  },
});

const apiService = new Service({
  metadata: { name: 'mission-control-api', namespace: NAMESPACE, labels: labels('api') },
  spec: { selector: labels('api'), ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
});

/** A worker's id is its pod's name: a restarted pod removes what its earlier life left at once. */
const workerId: IEnvVar = { name: 'WORKER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };

const workers = new StatefulSet({
  metadata: { name: 'mission-control-worker', namespace: NAMESPACE, labels: labels('worker') },
  spec: {
    serviceName: 'mission-control-worker',
    replicas: 2,
    podManagementPolicy: 'Parallel',
    selector: { matchLabels: labels('worker') },
    template: {
      metadata: { labels: labels('worker'), annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9464' } },
      spec: {
        // The shutdown sequence hands running missions back and removes sandboxes within SHUTDOWN_TIMEOUT_MS.
        terminationGracePeriodSeconds: SHUTDOWN_TIMEOUT_MS / 1000 + 5,
        nodeSelector: SANDBOX_NODES,
        // Sandboxes are started by the node's Docker Engine (runsc registered, no bridge), through its socket.
        volumes: [{ name: 'docker', hostPath: { path: '/var/run/docker.sock', type: 'Socket' } }],
        securityContext: { supplementalGroups: [999] },
        containers: [
          container('worker', ['node', 'dist/apps/worker.js'], {
            env: [workerId],
            ports: [{ name: 'metrics', containerPort: 9464 }],
            volumeMounts: [{ name: 'docker', mountPath: '/var/run/docker.sock' }],
            resources: { requests: { cpu: '1', memory: '512Mi' }, limits: { memory: '2Gi' } },
          }),
        ],
      },
    },
  },
});

const budgets = [
  new PodDisruptionBudget({
    metadata: { name: 'mission-control-api', namespace: NAMESPACE },
    spec: { minAvailable: 1, selector: { matchLabels: labels('api') } },
  }),
  new PodDisruptionBudget({
    metadata: { name: 'mission-control-worker', namespace: NAMESPACE },
    spec: { maxUnavailable: 1, selector: { matchLabels: labels('worker') } },
  }),
];

/** gVisor as the nodes' runtime handler, for clusters that run pods under it; it schedules onto the sandbox nodes. */
const gvisor = new RuntimeClass({ metadata: { name: 'gvisor' }, handler: 'runsc', scheduling: { nodeSelector: SANDBOX_NODES } });

/** Workers scale on the missions waiting in the queue (the API's mission_queue_jobs, through Prometheus). */
const scaling = new ScaledObject({
  metadata: { name: 'mission-control-worker', namespace: NAMESPACE },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'mission-control-worker' },
    minReplicaCount: 1,
    maxReplicaCount: 20,
    cooldownPeriod: 300,
    triggers: [
      {
        type: 'prometheus',
        metadata: {
          serverAddress: 'http://prometheus.monitoring.svc:9090',
          query: 'sum(max by (state) (mission_queue_jobs{state=~"waiting|prioritized"}))',
          threshold: String(WORKER_CONCURRENCY * 4),
        },
      },
    ],
  },
});

/** Every object of the deployment, in the order to apply them. */
export const manifests = [settings, api, apiService, workers, ...budgets, gvisor, scaling];

/** The manifests as one YAML file of several documents. */
export function manifestsYaml(): string {
  const header = '# Generated by deploy/kubernetes.ts (npm run deploy:manifests); edit that, not this.\n';
  return header + manifests.map((manifest) => stringify(manifest.toJSON())).join('---\n');
}

if (require.main === module) {
  for (const manifest of manifests) manifest.validate();
  process.stdout.write(manifestsYaml());
}

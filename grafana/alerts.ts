// The Prometheus alert rules, as code: `npm run grafana` writes grafana/alerts.yml. Each rule is a query, a
// comparison and a duration, so test/observability.test.ts can run the query alone against a real Prometheus
// (it returns series whether or not the alert fires), and `promtool check rules` checks the file.

export interface AlertRule {
  alert: string;
  /** The quantity watched; the rule fires when `query op threshold` holds for `for`. */
  query: string;
  op: '>' | '<' | '==';
  threshold: number;
  for: string;
  severity: 'page' | 'ticket';
  summary: string;
  /** What to look at first. */
  runbook: string;
}

export const alertRules: AlertRule[] = [
  {
    alert: 'MissionQueueBackingUp',
    query: 'sum(max by (state) (mission_queue_jobs{state=~"waiting|prioritized"}))',
    op: '>',
    threshold: 5_000,
    for: '15m',
    severity: 'ticket',
    summary: 'More than 5,000 missions have waited in the queue for 15 minutes',
    runbook: 'Compare missions started per second with accepted per second; add workers (WORKER_CONCURRENCY, more hosts) or look for a paused or unhealthy worker.',
  },
  {
    alert: 'MissionPickupSlow',
    query: 'histogram_quantile(0.99, sum by (le) (rate(mission_pickup_seconds_bucket[5m])))',
    op: '>',
    threshold: 5,
    for: '10m',
    severity: 'ticket',
    summary: 'p99 of enqueue-to-start is above 5 s',
    runbook: 'Workers are saturated or tenants are at MAX_RUNNING_PER_TENANT; check queue depth and the fleet cap.',
  },
  {
    alert: 'SandboxStartFailures',
    query: 'sum(rate(sandbox_start_failures_total[5m]))',
    op: '>',
    threshold: 0.05,
    for: '5m',
    severity: 'page',
    summary: 'Sandboxes keep failing to start',
    runbook: 'Check the worker log for "a sandbox failed to start": dockerd up, the runsc runtime registered, SANDBOX_IMAGE present (npm run bootstrap).',
  },
  {
    alert: 'SandboxRemovalBehind',
    query: 'max(sandbox_acquires_held)',
    op: '>',
    threshold: 0,
    for: '5m',
    severity: 'ticket',
    summary: 'Missions have waited for sandbox removals for 5 minutes: released sandboxes are removed slower than they are used',
    runbook: 'Check sandbox_destroy_duration_seconds and dockerd on that host; the released sandboxes are killed already, only their removal lags. Raise SANDBOX_REMOVAL_BACKLOG only if removal keeps up on average.',
  },
  {
    alert: 'WorkerCannotStartSandboxes',
    query: 'min(worker_sandboxes_healthy)',
    op: '==',
    threshold: 0,
    for: '2m',
    severity: 'page',
    summary: 'A worker has stopped taking missions because its sandboxes do not start',
    runbook: 'The worker paused itself: fix its Docker or image; it resumes by itself once a sandbox starts.',
  },
  {
    alert: 'MissionErrorRate',
    query: 'sum(rate(missions_finished_total{status!="succeeded"}[15m])) / sum(rate(missions_finished_total[15m]))',
    op: '>',
    threshold: 0.25,
    for: '15m',
    severity: 'ticket',
    summary: 'More than a quarter of missions end without succeeding',
    runbook: 'Break missions_finished_total down by code: ERR_POLICY points at a model endpoint, ERR_SANDBOX_GONE at limits, ERR_INTERNAL at us.',
  },
  {
    alert: 'StrandedMissionsRescued',
    query: 'sum(increase(mission_sweeper_rescues_total{reason!="not_enqueued"}[15m]))',
    op: '>',
    threshold: 0,
    for: '0m',
    severity: 'ticket',
    summary: 'The sweeper had to give missions a new job: their job was lost or failed',
    runbook: 'Nothing is lost, but something dropped jobs: a Redis restart without its append-only file, or BullMQ failing jobs; see the sweeper log lines.',
  },
  {
    alert: 'NoWorkerAlive',
    query: 'max(mission_workers_alive)',
    op: '==',
    threshold: 0,
    for: '5m',
    severity: 'page',
    summary: 'No worker has a live heartbeat: accepted missions wait',
    runbook: 'Start workers (node dist/apps/worker.js); their logs say why they stopped.',
  },
  {
    alert: 'LlmBreakerOpen',
    query: 'max by (endpoint) (llm_breaker_open)',
    op: '==',
    threshold: 1,
    for: '1m',
    severity: 'ticket',
    summary: 'A worker stopped calling a model endpoint after failures in a row',
    runbook: 'Check the endpoint (its status page, its key, LLM_RPM/LLM_TPM against its quota); missions on it fail with ERR_POLICY meanwhile.',
  },
  {
    alert: 'ApiServerErrors',
    query: '(sum(rate(http_request_duration_seconds_count{status=~"5.."}[5m])) or vector(0))',
    op: '>',
    threshold: 0.1,
    for: '5m',
    severity: 'page',
    summary: 'The API answers 5xx',
    runbook: 'The API log has each as "request failed" with its request_id; Postgres being away is the usual cause.',
  },
];

/** The rules as a Prometheus rule file. Double-quoted JSON strings are YAML strings too. */
export function alertRulesYaml(): string {
  const q = (text: string) => JSON.stringify(text);
  const rules = alertRules.map((rule) =>
    [
      `      - alert: ${rule.alert}`,
      `        expr: ${q(`${rule.query} ${rule.op} ${rule.threshold}`)}`,
      `        for: ${rule.for}`,
      `        labels:`,
      `          severity: ${rule.severity}`,
      `        annotations:`,
      `          summary: ${q(rule.summary)}`,
      `          runbook: ${q(rule.runbook)}`,
    ].join('\n'),
  );
  return `# Generated by grafana/alerts.ts (npm run grafana); edit that file, not this one.\ngroups:\n  - name: mission-control\n    rules:\n${rules.join('\n')}\n`;
}

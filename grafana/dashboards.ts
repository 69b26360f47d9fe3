// The Grafana dashboards, as code (@grafana/grafana-foundation-sdk). `npm run grafana` writes them to
// grafana/dashboards/*.json, which Grafana's provisioning loads; test/grafana.test.ts checks the files are fresh,
// and test/observability.test.ts runs every query against a real Prometheus.
import { LegendDisplayMode, LegendPlacement, TooltipDisplayMode, VizLegendOptionsBuilder, VizTooltipOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import { DashboardBuilder, DashboardCursorSync } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** The Prometheus data source that grafana/provisioning/datasources/prometheus.yaml creates. */
export const DATASOURCE = { type: 'prometheus', uid: 'mc-prometheus' };

type Query = [expr: string, legend: string];

const p = (quantile: number, metric: string, by = '') =>
  `histogram_quantile(${quantile}, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket[5m])))`;
const quantiles = (metric: string, by = ''): Query[] =>
  [0.5, 0.95, 0.99].map((q) => [p(q, metric, by), `p${Math.round(q * 100)}${by ? ` {{${by}}}` : ''}`]);

function panel(title: string, unit: string, queries: Query[], description?: string) {
  const legend = new VizLegendOptionsBuilder().showLegend(true).displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom);
  const builder = new PanelBuilder().title(title).unit(unit).datasource(DATASOURCE).height(8).span(12).legend(legend).tooltip(new VizTooltipOptionsBuilder().mode(TooltipDisplayMode.Multi));
  if (description) builder.description(description);
  queries.forEach(([expr, legend], index) => builder.withTarget(new DataqueryBuilder().expr(expr).legendFormat(legend).refId(String.fromCharCode(65 + index))));
  return builder;
}

function dashboard(uid: string, title: string, panels: PanelBuilder[]) {
  const builder = new DashboardBuilder(title)
    .uid(uid)
    .tags(['mission-control'])
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .tooltip(DashboardCursorSync.Crosshair);
  panels.forEach((one) => builder.withPanel(one));
  return builder.build();
}

export const dashboards = {
  fleet: dashboard('mc-fleet', 'mission-control: fleet', [
    panel('Missions accepted, started and finished per second', 'ops', [
      ['sum by (via) (rate(missions_accepted_total[5m]))', 'accepted ({{via}})'],
      ['sum(rate(missions_started_total[5m]))', 'started'],
      ['sum by (status) (rate(missions_finished_total[5m]))', 'finished {{status}}'],
    ]),
    panel('Queue depth by state', 'short', [['max by (state) (mission_queue_jobs)', '{{state}}']], 'Mission jobs in BullMQ, read from Redis at each scrape.'),
    panel('Pickup latency (job due to mission started)', 's', quantiles('mission_pickup_seconds')),
    panel('Mission duration (first start to end)', 's', quantiles('mission_duration_seconds')),
    panel('Missions that did not succeed, by error code, per second', 'ops', [
      ['sum by (status, code) (rate(missions_finished_total{status!="succeeded"}[5m]))', '{{status}} {{code}}'],
    ]),
    panel('Faults retried, handed-back and rescued missions per second', 'ops', [
      ['sum by (kind) (rate(mission_retries_total[5m]))', 'retried: {{kind}}'],
      ['sum(rate(missions_handed_back_total[5m]))', 'handed back'],
      ['sum by (reason) (rate(mission_sweeper_rescues_total[5m]))', 'rescued: {{reason}}'],
    ]),
    panel('API latency p99 by route', 's', [[p(0.99, 'http_request_duration_seconds', 'route'), '{{route}}']]),
    panel('API requests per second by status', 'reqps', [['sum by (status) (rate(http_request_duration_seconds_count[5m]))', '{{status}}']]),
    panel('Workers with a live heartbeat', 'short', [['max(mission_workers_alive)', 'workers']]),
    panel('Process memory', 'bytes', [['sum by (job, instance) (process_resident_memory_bytes)', '{{job}} {{instance}}']]),
  ]),
  sandboxes: dashboard('mc-sandboxes', 'mission-control: sandboxes', [
    panel('Sandboxes by state', 'short', [['sum by (state) (sandbox_pool_sandboxes)', '{{state}}']]),
    panel('Sandbox start and removal time', 's', [
      ...quantiles('sandbox_start_duration_seconds').map(([expr, legend]): Query => [expr, `start ${legend}`]),
      [p(0.95, 'sandbox_destroy_duration_seconds'), 'removal p95'],
    ]),
    panel('Sandbox start failures per second, and workers that cannot start any', 'short', [
      ['sum(rate(sandbox_start_failures_total[5m]))', 'failures / s'],
      ['count(worker_sandboxes_healthy == 0) or vector(0)', 'workers not starting sandboxes'],
    ]),
    panel('CPU of all sandboxes', 'short', [['sum by (instance) (sandbox_cpu_cores)', '{{instance}} (cores)']]),
    panel('Memory of all sandboxes', 'bytes', [['sum by (instance) (sandbox_memory_bytes)', '{{instance}}']]),
    panel('Step duration p95 by tool', 's', [[p(0.95, 'mission_step_duration_seconds', 'tool'), '{{tool}}']]),
    panel('Steps per second by tool and outcome', 'ops', [['sum by (tool, outcome) (rate(mission_step_duration_seconds_count[5m]))', '{{tool}} {{outcome}}']]),
  ]),
  llm: dashboard('mc-llm', 'mission-control: model endpoints', [
    panel('Model calls per second by endpoint and outcome', 'ops', [['sum by (endpoint, outcome) (rate(llm_request_duration_seconds_count[5m]))', '{{endpoint}} {{outcome}}']]),
    panel('Model call duration p95 by endpoint', 's', [[p(0.95, 'llm_request_duration_seconds', 'endpoint'), '{{endpoint}}']]),
    panel('Tokens per second by endpoint, model and kind', 'short', [['sum by (endpoint, model, kind) (rate(llm_tokens_total[5m]))', '{{endpoint}} {{model}} {{kind}}']]),
    panel('Cost per hour by endpoint and model (priced models)', 'currencyUSD', [['sum by (endpoint, model) (rate(llm_cost_usd_total[5m])) * 3600', '{{endpoint}} {{model}}']]),
    panel('Wait for the fleet-wide limits, p95 by endpoint', 's', [[p(0.95, 'llm_limiter_wait_seconds', 'endpoint'), '{{endpoint}}']]),
    panel('Circuit breakers open (workers)', 'short', [['sum by (endpoint) (llm_breaker_open)', '{{endpoint}}']]),
  ]),
  writer: dashboard('mc-writer', 'mission-control: database writer', [
    panel('Steps written per second', 'ops', [['sum(rate(step_writer_group_rows_sum[5m]))', 'steps / s']]),
    panel('Group commit duration', 's', quantiles('step_writer_flush_seconds')),
    panel('Steps per group commit', 'short', [
      [p(0.5, 'step_writer_group_rows'), 'p50'],
      [p(0.95, 'step_writer_group_rows'), 'p95'],
    ]),
  ]),
};

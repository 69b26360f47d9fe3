import type { MissionEngine } from '../engine/engine';
import type { LlmObserver } from '../engine/policies/llmLimiter';
import type { StepWriter } from '../store/stepWriter';
import type { MissionSweeper } from '../store/sweeper';
import type { Metrics } from '../lib/metrics';
import type { SandboxPool } from '../sandbox/pool';
import type { SandboxStatsCollector } from '../sandbox/stats';
import type { MissionWorker } from './missionWorker';

export interface ObservedWorker {
  engine: MissionEngine;
  missions: MissionWorker;
  pool: SandboxPool;
  stats: SandboxStatsCollector;
  steps: StepWriter;
  sweeper: MissionSweeper;
}

/** Turns a worker's events into its metrics (lib/metrics.ts), and reads its pool and sandboxes at each scrape. */
export function observeWorker(metrics: Metrics, { engine, missions, pool, stats, steps, sweeper }: ObservedWorker): void {
  // Series that exist from the start, at 0, so rates and alerts see them before anything happens.
  for (const kind of ['infrastructure', 'conflict', 'defect'] as const) metrics.missionRetries.inc({ kind }, 0);
  for (const reason of ['not_enqueued', 'job_missing', 'job_failed', 'job_completed'] as const) metrics.sweeperRescues.inc({ reason }, 0);
  engine.on('started', () => metrics.missionsStarted.inc());
  engine.on('modelCalled', ({ endpoint, model: named, input_tokens: input, output_tokens: output, cost_usd: cost }) => {
    // An operator's endpoint offers a fixed list of models; a tenant's own URL takes any name, so it gets no series each.
    const model = endpoint === 'tenant-url' ? 'tenant-url' : named;
    metrics.llmTokens.inc({ endpoint, model, kind: 'input' }, input);
    metrics.llmTokens.inc({ endpoint, model, kind: 'output' }, output);
    if (cost !== null) metrics.llmCost.inc({ endpoint, model }, cost);
  });
  for (const event of ['let_go', 'restored', 'kept'] as const) metrics.workspaceSaves.inc({ event }, 0);
  engine.on('workspace', (_missionId, event) => {
    metrics.workspaceSaves.inc({ event: event.kind === 'letGo' ? 'let_go' : event.kind });
    if (event.kind === 'letGo') metrics.workspaceBytes.observe(event.bytes);
  });
  engine.on('stepRan', (tool, failed, ms) => metrics.stepDuration.observe({ tool, outcome: failed ? 'error' : 'ok' }, ms / 1000));
  missions.events.on('pickedUp', (seconds) => metrics.pickup.observe(Math.max(0, seconds)));
  missions.events.on('ran', ({ status, error, durationMs }) => {
    if (status === 'waiting_approval') return;
    metrics.missionsFinished.inc({ status, code: error?.code ?? '' });
    metrics.missionDuration.observe({ status }, durationMs / 1000);
  });
  missions.events.on('handedBack', () => metrics.missionsHandedBack.inc());
  missions.events.on('lockLost', () => metrics.missionLocksLost.inc());
  missions.events.on('faulted', (kind) => metrics.missionRetries.inc({ kind }));
  pool.on('started', (_sandbox, ms) => metrics.sandboxStart.observe(ms / 1000));
  pool.on('failed', () => metrics.sandboxStartFailures.inc());
  pool.on('removed', (_sandbox, ms) => metrics.sandboxDestroy.observe(ms / 1000));
  pool.on('reset', () => metrics.sandboxResets.inc({ outcome: 'ok' }));
  pool.on('resetFailed', () => metrics.sandboxResets.inc({ outcome: 'failed' }));
  pool.on('reused', () => metrics.sandboxReuses.inc());
  steps.on('flushed', (rows, ms) => {
    metrics.writerGroupRows.observe(rows);
    metrics.writerFlush.observe(ms / 1000);
  });
  sweeper.on('swept', (rescues) => {
    metrics.sweeps.inc();
    for (const { reason } of rescues) metrics.sweeperRescues.inc({ reason });
  });
  metrics.beforeScrape.push(() => {
    const { idle, inUse, starting, removing, waiting, parked, resetting, startsUnderWay } = pool.stats();
    metrics.sandboxStartsUnderWay.set(startsUnderWay);
    for (const [state, count] of Object.entries({ idle, in_use: inUse, starting, removing, parked, resetting })) metrics.sandboxes.set({ state }, count);
    metrics.sandboxLimit.set(pool.limit);
    metrics.sandboxAcquiresHeld.set(waiting);
    const { cpuCores, memoryBytes } = stats.totals();
    metrics.sandboxCpu.set(cpuCores);
    metrics.sandboxMemory.set(memoryBytes);
    metrics.workerHealthy.set(pool.unhealthy ? 0 : 1);
  });
}

/** What the LLM limiter of each endpoint reports, as metrics labelled with the endpoint's name. */
export function llmMetrics(metrics: Metrics): (endpoint: string) => LlmObserver {
  return (endpoint) => {
    metrics.llmBreakerOpen.set({ endpoint }, 0);
    return {
      waited: (ms) => metrics.llmLimiterWait.observe({ endpoint }, ms / 1000),
      called: (ms, ok) => metrics.llmRequest.observe({ endpoint, outcome: ok ? 'ok' : 'error' }, ms / 1000),
      breaker: (open) => metrics.llmBreakerOpen.set({ endpoint }, open ? 1 : 0),
    };
  };
}

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Buckets fit each quantity: API calls and pickups in milliseconds, steps from milliseconds to the 300 s shell
// timeout, missions from seconds to hours, sandbox starts around gVisor's ~0.3 s.
const API_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const PICKUP_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const STEP_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const MISSION_SECONDS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1_800, 3_600, 7_200];
const SANDBOX_SECONDS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30];
const LLM_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const FLUSH_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const GROUP_ROWS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000];

/**
 * A process's Prometheus metrics, in one registry: the API's and a worker's (in `npm start` both live in one
 * process and one registry). Created once per process by its entry point and passed down; modules emit events
 * and the entry points record them here (apps/api.ts, workers/observe.ts). Names follow Prometheus's rules: base
 * units, `_total` only on counters, and no ids in labels.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    /** Run before each scrape, to read what is computed then (queue depth, the sandbox pool). */
    beforeScrape: [] as (() => Promise<void> | void)[],
    // The API.
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route, method and status',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: API_SECONDS,
      registers,
    }),
    missionsAccepted: new Counter({
      name: 'missions_accepted_total',
      help: 'Missions committed by the API, by how they came (single or batch)',
      labelNames: ['via'] as const,
      registers,
    }),
    queueJobs: new Gauge({
      name: 'mission_queue_jobs',
      help: 'Mission jobs in BullMQ by state, read from Redis when scraped',
      labelNames: ['state'] as const,
      registers,
    }),
    workersAlive: new Gauge({
      name: 'mission_workers_alive',
      help: 'Workers of the fleet with a live heartbeat, read from Redis when scraped (by the API)',
      registers,
    }),
    webhookAttempts: new Counter({
      name: 'webhook_attempts_total',
      help: 'Webhook delivery attempts by result (delivered, retrying, failed: given up, gone: the endpoint answered 410)',
      labelNames: ['result'] as const,
      registers,
    }),
    webhookPending: new Gauge({
      name: 'webhook_deliveries_pending',
      help: 'Webhook deliveries waiting to be sent, read at scrape (API)',
      registers,
    }),
    retentionPurged: new Counter({
      name: 'retention_purged_rows_total',
      help: 'Rows deleted for being older than RETENTION_DAYS, by kind (missions with their steps, batches, ...)',
      labelNames: ['kind'] as const,
      registers,
    }),
    sweeps: new Counter({
      name: 'mission_sweeps_total',
      help: 'Sweeps this process ran for stranded missions (one process of the fleet sweeps at a time)',
      registers,
    }),
    sweeperRescues: new Counter({
      name: 'mission_sweeper_rescues_total',
      help: 'Open missions the sweeper enqueued or gave a new job, by why (not_enqueued, job_missing, job_failed, job_completed)',
      labelNames: ['reason'] as const,
      registers,
    }),
    // Workers: missions and steps.
    missionsStarted: new Counter({
      name: 'missions_started_total',
      help: 'Runs of missions started by workers (a resumed mission starts again)',
      registers,
    }),
    missionsFinished: new Counter({
      name: 'missions_finished_total',
      help: 'Missions that ended, by status and error code (none when it succeeded)',
      labelNames: ['status', 'code'] as const,
      registers,
    }),
    missionsHandedBack: new Counter({
      name: 'missions_handed_back_total',
      help: 'Running missions handed back to the queue by a worker shutting down',
      registers,
    }),
    missionLocksLost: new Counter({
      name: 'mission_job_locks_lost_total',
      help: 'Runs stopped because their job lock could not be renewed (the worker was starved, or another took the job)',
      registers,
    }),
    workerConcurrency: new Gauge({
      name: 'worker_concurrency',
      help: 'Missions this worker takes at once (WORKER_CONCURRENCY, or what auto sizing set last)',
      registers,
    }),
    concurrencyChanges: new Counter({
      name: 'worker_concurrency_changes_total',
      help: 'Resizings of the missions in flight by WORKER_CONCURRENCY=auto, by cause (idle: grown; cpu, event_loop: shrunk)',
      labelNames: ['cause'] as const,
      registers,
    }),
    workspaceSaves: new Counter({
      name: 'mission_workspaces_total',
      help: "Missions' files saved as their sandbox was let go (let_go), restored in a new one (restored), or kept in a sandbox they could not leave (kept)",
      labelNames: ['event'] as const,
      registers,
    }),
    workspaceBytes: new Histogram({
      name: 'mission_workspace_archive_bytes',
      help: 'Size of the saved workspace archives (gzip)',
      buckets: [1_024, 16_384, 262_144, 1_048_576, 8_388_608, 67_108_864],
      registers,
    }),
    missionRetries: new Counter({
      name: 'mission_retries_total',
      help: 'Mission runs interrupted by a fault that is not the mission\'s, by kind (infrastructure, conflict, defect)',
      labelNames: ['kind'] as const,
      registers,
    }),
    pickup: new Histogram({
      name: 'mission_pickup_seconds',
      help: 'From a mission job becoming due in the queue to a worker starting it',
      buckets: PICKUP_SECONDS,
      registers,
    }),
    missionDuration: new Histogram({
      name: 'mission_duration_seconds',
      help: 'From a mission\'s first start to its end, by status',
      labelNames: ['status'] as const,
      buckets: MISSION_SECONDS,
      registers,
    }),
    stepDuration: new Histogram({
      name: 'mission_step_duration_seconds',
      help: 'Sandboxed steps by tool and outcome (ok or error)',
      labelNames: ['tool', 'outcome'] as const,
      buckets: STEP_SECONDS,
      registers,
    }),
    writerGroupRows: new Histogram({
      name: 'step_writer_group_rows',
      help: 'Steps committed together in one statement by the StepWriter',
      buckets: GROUP_ROWS,
      registers,
    }),
    writerFlush: new Histogram({
      name: 'step_writer_flush_seconds',
      help: 'How long one group commit of steps took',
      buckets: FLUSH_SECONDS,
      registers,
    }),
    // Workers: sandboxes.
    sandboxes: new Gauge({
      name: 'sandbox_pool_sandboxes',
      help: 'Sandboxes of this worker by state (idle, in_use, starting, removing: released, killed, not yet removed; with reuse, parked for a tenant and resetting)',
      labelNames: ['state'] as const,
      registers,
    }),
    sandboxLimit: new Gauge({
      name: 'sandbox_pool_limit',
      help: 'The most sandboxes this worker holds at once (slots + warm pool + removal backlog)',
      registers,
    }),
    sandboxAcquiresHeld: new Gauge({
      name: 'sandbox_acquires_held',
      help: 'Missions of this worker held back until a sandbox removal makes room under the limit',
      registers,
    }),
    sandboxStartsUnderWay: new Gauge({
      name: 'sandbox_starts_under_way',
      help: 'Sandbox starts of this worker that hold a turn now (at most SANDBOX_STARTS_AT_ONCE)',
      registers,
    }),
    sandboxResets: new Counter({
      name: 'sandbox_resets_total',
      help: 'Released sandboxes reset for their tenant (SANDBOX_REUSE=tenant), by outcome: ok, or failed (removed)',
      labelNames: ['outcome'] as const,
      registers,
    }),
    sandboxReuses: new Counter({
      name: 'sandbox_reuses_total',
      help: 'Missions that were handed a reset sandbox of their tenant instead of a fresh one',
      registers,
    }),
    sandboxStartFailures: new Counter({
      name: 'sandbox_start_failures_total',
      help: 'Sandbox starts that failed',
      registers,
    }),
    sandboxStart: new Histogram({
      name: 'sandbox_start_duration_seconds',
      help: 'How long a sandbox took to start and answer on its step channel',
      buckets: SANDBOX_SECONDS,
      registers,
    }),
    sandboxDestroy: new Histogram({
      name: 'sandbox_destroy_duration_seconds',
      help: 'How long removing a sandbox took',
      buckets: SANDBOX_SECONDS,
      registers,
    }),
    sandboxCpu: new Gauge({
      name: 'sandbox_cpu_cores',
      help: 'CPU used by this worker\'s live sandboxes together, in cores, from the last background sample',
      registers,
    }),
    sandboxMemory: new Gauge({
      name: 'sandbox_memory_bytes',
      help: 'Memory used by this worker\'s live sandboxes together, from the last background sample',
      registers,
    }),
    workerHealthy: new Gauge({
      name: 'worker_sandboxes_healthy',
      help: '1 while this worker can start sandboxes, 0 while it cannot (it takes no missions then)',
      registers,
    }),
    // Workers: model endpoints (by the operator's endpoint name, or "tenant-url").
    llmRequest: new Histogram({
      name: 'llm_request_duration_seconds',
      help: 'Model calls by endpoint and outcome (ok or error), retries included',
      labelNames: ['endpoint', 'outcome'] as const,
      buckets: LLM_SECONDS,
      registers,
    }),
    llmTokens: new Counter({
      name: 'llm_tokens_total',
      help: 'Tokens the endpoints reported using, by endpoint, model and kind (input: prompt; output: completion)',
      labelNames: ['endpoint', 'model', 'kind'] as const,
      registers,
    }),
    llmCost: new Counter({
      name: 'llm_cost_usd_total',
      help: "What the model calls cost at the operator's prices (priced models only), in US dollars",
      labelNames: ['endpoint', 'model'] as const,
      registers,
    }),
    llmLimiterWait: new Histogram({
      name: 'llm_limiter_wait_seconds',
      help: 'How long a model call waited for the fleet-wide request and token limits',
      labelNames: ['endpoint'] as const,
      buckets: [0, 0.01, 0.1, 0.5, 1, 5, 15, 30, 60],
      registers,
    }),
    llmBreakerOpen: new Gauge({
      name: 'llm_breaker_open',
      help: '1 while this worker\'s circuit breaker for the endpoint is open',
      labelNames: ['endpoint'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** The text of a scrape: what is computed at scrape time first, then every metric of the registry. */
export async function renderMetrics(metrics: Metrics): Promise<string> {
  await Promise.allSettled(metrics.beforeScrape.map(async (collect) => collect()));
  return metrics.registry.metrics();
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import Docker from 'dockerode';
import { BatchStore } from '../store/batches/batchStore';
import { MissionEngine } from '../engine/engine';
import { MissionProgress } from '../store/missionProgress';
import { Approvals } from '../store/approvals';
import { LlmCalls } from '../store/llmCalls';
import { MissionStore } from '../store/missionStore';
import { SavedWorkspaces } from '../store/savedWorkspaces';
import { FileStore } from '../tasks/fileStore';
import { ArtifactStore } from '../tasks/artifactStore';
import { BASE_ENVIRONMENT, type Environment } from '../lib/environments';
import { runRetention } from '../store/runRetention';
import { createPolicies, modelClients } from '../engine/policies';
import { grader } from '../engine/policies/grader';
import { ownUrlPermission } from '../store/tenantPermissions';
import { StepWriter } from '../store/stepWriter';
import { MissionSweeper } from '../store/sweeper';
import { ConfigError, isDevelopment, type Config } from '../lib/config';
import { openDb } from '../lib/db';
import { createMetrics, type Metrics } from '../lib/metrics';
import { metricsAccess } from '../lib/metricsAccess';
import { serveMetrics } from '../lib/metricsServer';
import type { Logger } from '../lib/logger';
import { announceCancellations, cancelChannel, createMissionQueue, setFleetConcurrency } from '../lib/queue';
import { createRedis } from '../lib/redis';
import { runService } from '../lib/service';
import { shutdownSequence, type Close } from '../lib/shutdown';
import { SandboxDriver } from '../sandbox/driver';
import type { ReuseOptions } from '../sandbox/parked';
import { SandboxPool } from '../sandbox/pool';
import { hostCapacity } from '../sandbox/hostCapacity';
import { SandboxReaper } from '../sandbox/reaper';
import { SandboxStatsCollector } from '../sandbox/stats';
import { MAX_ARCHIVE_BYTES } from '../sandbox/workspaceArchive';
import { listenForCancellations } from '../workers/cancellations';
import { startHeartbeat } from '../lib/heartbeat';
import { TenantSlots } from '../workers/tenantSlots';
import { ConcurrencyGovernor } from '../workers/concurrencyGovernor';
import { hostCpuMeter } from '../lib/hostCpu';
import { runDeliverer } from '../webhooks/runDeliverer';
import { WebhookStore } from '../webhooks/webhookStore';
import { createMissionWorker } from '../workers/missionWorker';
import { llmMetrics, observeWorker } from '../workers/observe';

/**
 * Time kept before the shutdown deadline to kill the running steps, record the missions as handed back and close
 * connections; removing the sandboxes is added to it, as long as the pool has seen removals take.
 */
const HAND_BACK_MS = 1_000;
/** Time kept after the sandboxes' removal, to close connections. */
const CLOSE_MS = 300;
const BATCH_TOKEN_LIMIT = { code: 'ERR_BATCH_TOKEN_LIMIT', message: 'the mission was cancelled: its batch went past its token limit' };
// A worker whose heartbeat is missing on two passes this far apart is gone (its heartbeat lives 15 s).
const REAP_EVERY_MS = 10_000;
/** A reset takes a few milliseconds; one that takes this long is given up, and its sandbox removed. */
const RESET_TIMEOUT_MS = 5_000;
/** WORKER_CONCURRENCY=auto: missions in flight at start, the fewest and the most ever. */
const AUTO_START = 4;
const AUTO_MIN = 2;
const AUTO_MAX = 2_000;

export interface RunningWorker {
  id: string;
  engine: MissionEngine;
  pool: SandboxPool;
  stats: SandboxStatsCollector;
  /** The process's metrics; a worker alone serves them on METRICS_PORT. */
  metrics: Metrics;
  close: Close;
}

/** Starts a worker process's mission worker: BullMQ in, ReAct engine, gVisor sandboxes, Postgres out. */
export async function startWorker(
  config: Config,
  logger: Logger,
  id = config.WORKER_ID ?? defaultWorkerId(),
  metrics: Metrics = createMetrics(),
): Promise<RunningWorker> {
  const log = logger.child({ worker_id: id });
  if (config.SANDBOX_RUNTIME === 'runc' && config.SANDBOX_ALLOW_RUNC) {
    log.warn('SANDBOX_RUNTIME=runc: sandboxes share the host kernel; no isolation against hostile code (development only)');
  }
  const docker = new Docker();
  const driver = new SandboxDriver(docker, {
    image: config.SANDBOX_IMAGE,
    environments: sandboxImages(config.ENVIRONMENTS),
    runtime: config.SANDBOX_RUNTIME,
    owner: id,
    fleet: config.QUEUE_PREFIX,
    allowRunc: config.SANDBOX_ALLOW_RUNC,
    limits: {
      memoryBytes: config.SANDBOX_MEMORY_MB * 1024 * 1024,
      cpus: config.SANDBOX_CPUS,
      pids: config.SANDBOX_PIDS,
      workspaceBytes: config.SANDBOX_WORKSPACE_MB * 1024 * 1024,
    },
  });
  // A worker that cannot start a single sandbox would take missions only to fail them: it does not start.
  const setupProblem = await driver.setupProblem();
  if (setupProblem) throw new ConfigError(setupProblem);
  // Missions of an environment whose image this host lacks wait for a worker that has it.
  const environments = new Set(await driver.availableEnvironments());
  const missing = Object.keys(config.ENVIRONMENTS).filter((name) => name !== BASE_ENVIRONMENT && !environments.has(name));
  if (missing.length > 0) log.warn({ environments: missing }, 'this worker has no image of these environments: their missions wait for another worker');
  // Missions beyond what the host can hold wait for a sandbox: a start past the host's threads fails every fork on it.
  const host = hostCapacity();
  const sizing = concurrencySizing(config, host.sandboxes);
  const db = await openDb(config, { poolMax: Math.min(sizing.max + 2, 20), logger: log });
  const redis = createRedis(config, 'worker');
  redis.on('error', (error) => log.debug({ err: error }, 'redis connection error'));
  // The pool is set below; until then this worker holds no sandbox, so every one labelled with its id is from
  // an earlier life of a worker with the same id, and goes.
  let pool: SandboxPool | undefined;
  let inFlight = () => sizing.start;
  const startedAt = Date.now();
  const heartbeat = await startHeartbeat(redis, config.QUEUE_PREFIX, id, undefined, () => ({
    host: hostname(),
    pid: process.pid,
    started_at: startedAt,
    concurrency: inFlight(),
    runtime: config.SANDBOX_RUNTIME,
    pool: pool?.stats() ?? null,
  }));
  const reaper = new SandboxReaper(
    docker,
    config.QUEUE_PREFIX,
    id,
    heartbeat.isAlive,
    (containerId) => pool?.holds(containerId) ?? false,
    REAP_EVERY_MS,
  );
  const reap = () =>
    reaper.reap().then(
      (removed) => removed.length > 0 && log.info({ removed }, 'removed sandboxes that nobody holds any more'),
      (error: unknown) => log.warn({ err: error }, 'sandbox reaper could not run; the next pass tries again'),
    );
  await reap();
  const reapTimer = setInterval(() => void reap(), REAP_EVERY_MS).unref();

  const { maxSandboxes } = sizing;
  const because = config.SANDBOX_MAX ? 'SANDBOX_MAX' : `the host's free ${host.bound} (${host.threadsFree} threads, ${Math.round(host.memoryFreeBytes / 2 ** 20)} MB)`;
  if (sizing.held) log.warn({ max_sandboxes: maxSandboxes, concurrency: sizing.max }, `at most ${maxSandboxes} sandboxes at once, by ${because}: missions past them wait for one`);
  pool = new SandboxPool(driver, {
    size: config.SANDBOX_POOL_SIZE,
    startConcurrency: config.SANDBOX_STARTS_AT_ONCE,
    maxSandboxes,
    reuse: reuseOptions(config, maxSandboxes),
  });
  pool.on('failed', (error) => log.error({ err: error }, 'a sandbox failed to start'));
  pool.on('lost', (sandbox, reason) => log.warn({ sandbox_id: sandbox.id, reason: reason.message }, 'a warm sandbox died'));
  pool.on('removeFailed', (sandbox, error) => log.warn({ sandbox_id: sandbox.id, err: error }, 'a sandbox could not be removed; the reaper will'));
  pool.on('resetFailed', (sandbox, error) => log.warn({ sandbox_id: sandbox.id, reason: error.message }, 'a sandbox could not be reset; it is removed'));
  pool.on('killFailed', (sandbox, error) => log.warn({ sandbox_id: sandbox.id, err: error }, 'a released sandbox could not be killed at once; its removal stops it'));
  pool.start();
  const stats = new SandboxStatsCollector(docker, () => pool.sandboxes());
  stats.start();

  const steps = new StepWriter(db);
  const store = new MissionStore(db);
  const policyDeps = {
    llm: {
      endpoints: config.LLM_ENDPOINTS,
      tenantUrlAllowlist: config.LLM_TENANT_URL_ALLOWLIST,
      tenantUrlLimits: { requestsPerWindow: config.LLM_RPM, tokensPerWindow: config.LLM_TPM },
      timeoutMs: config.LLM_TIMEOUT_MS,
      retryBudgetMs: config.LLM_RETRY_BUDGET_S * 1_000,
      history: { steps: config.LLM_HISTORY_STEPS, tokens: config.LLM_HISTORY_TOKENS },
    },
    calls: new LlmCalls(db),
    allowsOwnUrl: ownUrlPermission(db),
    observeLlm: llmMetrics(metrics),
    redis,
    prefix: config.QUEUE_PREFIX,
  };
  const clients = modelClients(policyDeps);
  const policies = createPolicies(policyDeps, clients);
  const batches = new BatchStore(db, store);
  const batchHooks = {
    settle: (batchId: string) => batches.settle(batchId),
    spend: (batchId: string, tokens: number) => batches.spend(batchId, tokens),
    async exhaust(batchId: string) {
      const cancelled = await batches.cancel(batchId, BATCH_TOKEN_LIMIT);
      if (cancelled !== 'ended') await announceCancellations(redis, config.QUEUE_PREFIX, cancelled.running);
    },
  };
  const engine = new MissionEngine(
    { store, progress: new MissionProgress(db), steps, approvals: new Approvals(db), policyFor: policies, sandboxes: pool, workspaces: new SavedWorkspaces(db), files: new FileStore(db), artifacts: new ArtifactStore(db), batches: batchHooks, grade: grader(config.LLM_ENDPOINTS, clients) },
    {
      workerId: id,
      maxStoredBytes: config.MISSION_STORED_MB << 20,
      letGoAfterMs: config.SANDBOX_LET_GO_AFTER_S * 1_000,
      maxSavedBytes: Math.min(config.SANDBOX_WORKSPACE_MB << 20, MAX_ARCHIVE_BYTES),
      artifacts: { maxBytes: config.ARTIFACT_MAX_BYTES, maxFiles: config.ARTIFACT_MAX_FILES },
    },
  );
  engine.on('workspace', (missionId, event) => {
    if (event.kind === 'kept') log.info({ mission_id: missionId, reason: event.reason }, 'a waiting mission keeps its sandbox: its files could not be saved');
    else log.debug({ mission_id: missionId, ...event }, event.kind === 'letGo' ? "a waiting mission's sandbox let go, its files saved" : "a mission's saved files restored in a new sandbox");
  });
  engine.on('tookOver', (missionId, fromWorker) => log.info({ mission_id: missionId, from_worker: fromWorker }, 'took over a mission another worker ran'));
  const subscriber = createRedis(config, 'worker');
  subscriber.on('error', (error) => log.debug({ err: error }, 'redis subscriber connection error'));
  const cancellations = await listenForCancellations(subscriber, cancelChannel(config.QUEUE_PREFIX));
  const tenantSlots = new TenantSlots(redis, config.QUEUE_PREFIX, id, config.MAX_RUNNING_PER_TENANT, config.WORKER_LOCK_MS);
  const missions = createMissionWorker(engine, cancellations, tenantSlots, log, {
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    concurrency: sizing.start,
    lockMs: config.WORKER_LOCK_MS,
    stalledCheckMs: config.WORKER_STALLED_CHECK_MS,
    workerId: id,
    environments,
    noteWaiting: (missionId, reason) => store.noteWaiting(missionId, reason),
  });
  await missions.worker.waitUntilReady();
  inFlight = () => missions.worker.concurrency;
  const governor = sizing.auto ? new ConcurrencyGovernor({ get concurrency() { return missions.worker.concurrency; }, set concurrency(to) { missions.worker.concurrency = to; }, running: missions.running }, hostCpuMeter(), sizing) : undefined;
  metrics.workerConcurrency.set(sizing.start);
  governor?.on('changed', (to, from, cause, busy, lagMs) => {
    metrics.workerConcurrency.set(to);
    metrics.concurrencyChanges.inc({ cause });
    log.info({ concurrency: to, from, cause, host_cpu: Number(busy.toFixed(2)), loop_delay_ms: Math.round(lagMs) }, 'missions in flight resized');
  });
  governor?.start();
  // A worker whose sandboxes stop starting (its image removed, its runtime broken) takes no missions until one
  // starts again, so healthy workers run them; the missions it holds are retried, which is not their failure.
  pool.on('unhealthy', (error) => {
    log.error({ err: error }, 'sandboxes cannot start here: this worker takes no missions until one does');
    void missions.worker.pause(true);
  });
  pool.on('healthy', () => {
    log.info('sandboxes start again: this worker takes missions again');
    missions.worker.resume();
  });
  // Every process sweeps for stranded missions (one at a time, by a lease in Redis), so missions move on
  // whether or not an API process runs. Its connection fails fast while Redis is away.
  const sweeperRedis = createRedis(config, 'producer');
  sweeperRedis.on('error', (error) => log.debug({ err: error }, 'redis connection error'));
  const sweeperQueue = createMissionQueue(sweeperRedis, config.QUEUE_PREFIX);
  sweeperQueue.on('error', (error) => log.debug({ err: error }, 'sweeper queue error'));
  const sweeper = new MissionSweeper(store, batches, sweeperQueue, sweeperRedis, config.QUEUE_PREFIX, id, { everyMs: config.SWEEP_EVERY_MS });
  sweeper.on('swept', (rescues) => {
    for (const { missionId, reason } of rescues) log.info({ mission_id: missionId, reason }, 'sweeper moved a stranded mission on');
  });
  sweeper.on('failed', (error) => log.debug({ err: error }, 'a sweep could not run; the next one tries again'));
  sweeper.start();
  const deliverer = runDeliverer(new WebhookStore(db), config, metrics, log);
  const retention = runRetention(db, sweeperRedis, config, metrics, log, id);
  observeWorker(metrics, { engine, missions, pool, stats, steps, sweeper });
  if (config.FLEET_CONCURRENCY) await setFleetConcurrency(redis, config.QUEUE_PREFIX, config.FLEET_CONCURRENCY);
  if (sizing.auto) log.info({ max_sandboxes: maxSandboxes, because }, `missions in flight: from ${sizing.start}, sized by the host's CPU up to ${sizing.max} (WORKER_CONCURRENCY=auto)`);
  log.info({ concurrency: sizing.start, runtime: config.SANDBOX_RUNTIME, pool: config.SANDBOX_POOL_SIZE }, 'worker ready');
  const close = shutdownSequence(
    [
      ['stop sweeper', () => sweeper.stop()],
      ['stop sizing', async () => governor?.stop()],
      ['stop webhook deliveries', () => deliverer.stop()],
      ['stop retention', () => retention.stop()],
      [
        'drain worker',
        async (until) => {
          // Warm sandboxes serve no new mission now: they go at once, leaving less to remove at the deadline.
          pool.stopWarming();
          const margin = HAND_BACK_MS + pool.removalEstimateMs();
          log.info({ running: missions.running(), hand_back_in_ms: Math.round(until - Date.now() - margin) }, 'draining: taking no more missions, waiting for the running ones');
          const handedBack = await missions.drain(until - Math.min(margin, (until - Date.now()) / 2));
          if (handedBack > 0) log.warn({ handed_back: handedBack }, 'the shutdown deadline is near: handed the running missions back to the queue');
        },
      ],
      ['flush step writer', () => steps.flush()],
      ['give tenant slots back', () => tenantSlots.close()],
      ['stop cancellations', () => cancellations.close()],
      ['stop sandbox stats', () => stats.stop()],
      [
        'destroy sandboxes',
        async (until) => {
          log.info({ sandboxes: pool.sandboxes().length + pool.stats().removing }, 'destroying sandboxes');
          const left = await pool.close(until - CLOSE_MS);
          // Not a failure of the shutdown: the heartbeat stops next, and the fleet's reapers remove them.
          if (left > 0) log.warn({ sandboxes: left }, 'the deadline came before every sandbox was removed: the reapers of the fleet remove the rest');
        },
      ],
      ['stop sandbox driver', async () => driver.close()],
      ['stop heartbeat', async () => (clearInterval(reapTimer), heartbeat.stop())],
      ['close sweeper queue', () => sweeperQueue.close()],
      ['close redis', async () => (await redis.quit(), await sweeperRedis.quit())],
      ['close database', () => db.destroy()],
    ],
    config.SHUTDOWN_TIMEOUT_MS,
    log,
  );
  return { id, engine, pool, stats, metrics, close };
}

/**
 * Missions in flight and sandboxes held. A fixed WORKER_CONCURRENCY holds a sandbox per slot, within the host's
 * room (`held` when it does not fit). `auto` starts at AUTO_START and lets the governor size it up to twice the
 * sandboxes the host has room for: missions waiting for a model let their sandboxes go to the others.
 */
function concurrencySizing(config: Config, hostSandboxes: number) {
  const room = config.SANDBOX_MAX ?? hostSandboxes;
  if (config.WORKER_CONCURRENCY === 'auto') {
    const maxSandboxes = Math.max(config.SANDBOX_POOL_SIZE, 1, room);
    return { auto: true, start: Math.min(AUTO_START, maxSandboxes), min: AUTO_MIN, max: Math.min(2 * maxSandboxes, AUTO_MAX), maxSandboxes, held: false };
  }
  const wanted = config.WORKER_CONCURRENCY + config.SANDBOX_POOL_SIZE + config.SANDBOX_REMOVAL_BACKLOG;
  const maxSandboxes = Math.max(config.SANDBOX_POOL_SIZE, 1, Math.min(wanted, room));
  return { auto: false, start: config.WORKER_CONCURRENCY, min: config.WORKER_CONCURRENCY, max: config.WORKER_CONCURRENCY, maxSandboxes, held: maxSandboxes < wanted };
}

/** Reuse within a tenant, when SANDBOX_REUSE=tenant: one reset sandbox can wait per sandbox the worker may hold. */
function reuseOptions(config: Config, maxParked: number): ReuseOptions | undefined {
  if (config.SANDBOX_REUSE === 'off') return undefined;
  return {
    maxMissions: config.SANDBOX_REUSE_MAX_MISSIONS,
    maxAgeMs: config.SANDBOX_REUSE_MAX_AGE_S * 1_000,
    maxParked,
    resetTimeoutMs: RESET_TIMEOUT_MS,
  };
}

/** Unique per process and host: it labels this worker's sandboxes, so the reaper knows whose they are. */
function defaultWorkerId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

if (require.main === module) {
  runService('worker', async (config, logger) => {
    // The port first: a worker that cannot serve its metrics stops before it takes a mission.
    const metrics = createMetrics();
    const server = await serveMetrics(metrics, config.METRICS_PORT, metricsAccess(config.METRICS_TOKEN, isDevelopment(config)));
    const worker = await startWorker(config, logger, undefined, metrics);
    logger.info({ port: server.port }, 'worker metrics served at /metrics');
    if (!config.METRICS_TOKEN && !isDevelopment(config)) logger.warn('METRICS_TOKEN is not set: /metrics answers 403 to every scrape');
    return {
      async close(until?: number) {
        const clean = await worker.close(until);
        await server.close();
        return clean;
      },
    };
  });
}

/** The images and limits of the environments other than the base one, as the sandbox driver takes them. */
function sandboxImages(environments: Readonly<Record<string, Environment>>) {
  const others = Object.values(environments).filter((environment) => environment.name !== BASE_ENVIRONMENT);
  return Object.fromEntries(
    others.map((environment) => [
      environment.name,
      { image: environment.image, limits: { ...(environment.workspaceBytes && { workspaceBytes: environment.workspaceBytes }), ...(environment.memoryBytes && { memoryBytes: environment.memoryBytes }) } },
    ]),
  );
}

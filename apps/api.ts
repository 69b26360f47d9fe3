import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { fleetModel } from '../console/fleet';
import { ConsoleReader } from '../console/reader';
import { ConsoleRenderer } from '../console/render';
import { consolePages } from '../console/router';
import { Approvals } from '../store/approvals';
import { BatchStore } from '../store/batches/batchStore';
import { MissionStore } from '../store/missionStore';
import { ownUrlPermission } from '../store/tenantPermissions';
import { MissionSubmitter } from '../store/submitter';
import { MissionSweeper } from '../store/sweeper';
import { runRetention } from '../store/runRetention';
import { redisErrorListener } from '../jobs/redisErrors';
import { isDevelopment, type Config } from '../lib/config';
import { metricsAccess } from '../lib/metricsAccess';
import { openDb } from '../lib/db';
import { liveWorkers } from '../lib/heartbeat';
import type { Logger } from '../lib/logger';
import { createMetrics, type Metrics } from '../lib/metrics';
import { announceCancellations, createMissionQueue } from '../lib/queue';
import { createRedis } from '../lib/redis';
import { runService } from '../lib/service';
import { shutdownSequence, type Close } from '../lib/shutdown';
import { runDeliverer } from '../webhooks/runDeliverer';
import { WebhookStore } from '../webhooks/webhookStore';
import { BrowserSessions, redisSessionEnds, sessionSecret } from '../api/browserSessions';
import { ApiKeys } from '../api/apiKeys';
import { createApp } from '../api/app';
import { missionAdmission } from '../api/handlers/admission';
import { archiveLimits } from '../tasks/archives';
import { FileStore } from '../tasks/fileStore';
import { ArtifactStore } from '../tasks/artifactStore';
import { MissionEventHub } from '../api/eventHub';
import { Idempotency } from '../api/idempotency';
import { OpenStreams } from '../api/openStreams';
import { tenantRateLimit } from '../api/rateLimit';

export interface RunningApi {
  port: number;
  submitter: MissionSubmitter;
  close: Close;
}

const withTimeout = <T>(work: Promise<T>, ms: number) =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), ms).unref())]);

/** Starts the HTTP API on config.PORT (0 picks a free port), and a sweeper that moves stranded missions on. */
export async function startApi(config: Config, logger: Logger, metrics: Metrics = createMetrics()): Promise<RunningApi> {
  const db = await openDb(config, { logger });
  const redis = createRedis(config, 'producer');
  const queue = createMissionQueue(redis, config.QUEUE_PREFIX);
  // Without listeners these 'error' events would throw: a Redis outage must never take the API down.
  redis.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  queue.on('error', redisErrorListener(logger, 'mission queue error'));
  const store = new MissionStore(db);
  const files = new FileStore(db);
  const batches = new BatchStore(db, store);
  const submitter = new MissionSubmitter(store, batches, queue);
  submitter.on('enqueueFailed', (error, ids) =>
    logger.warn({ err: error, missions: ids.length }, 'missions committed but not enqueued; the sweeper will enqueue them'),
  );
  const sweeper = new MissionSweeper(store, batches, queue, redis, config.QUEUE_PREFIX, `api-${hostname()}-${process.pid}`, { everyMs: config.SWEEP_EVERY_MS });
  sweeper.on('swept', (rescues) => {
    metrics.sweeps.inc();
    for (const { missionId, reason } of rescues) {
      metrics.sweeperRescues.inc({ reason });
      logger.info({ mission_id: missionId, reason }, 'sweeper moved a stranded mission on');
    }
  });
  sweeper.on('failed', (error) => logger.debug({ err: error }, 'a sweep could not run; the next one tries again'));
  sweeper.start();
  const webhooks = new WebhookStore(db);
  const reader = new ConsoleReader(db);
  const deliverer = runDeliverer(webhooks, config, metrics, logger);
  const retention = runRetention(db, redis, config, metrics, logger, `api-${hostname()}-${process.pid}`);
  const hub = new MissionEventHub(config.DATABASE_LISTEN_URL, logger);
  await hub.start();
  submitter.on('committed', (count, via) => metrics.missionsAccepted.inc({ via }, count));
  const streams = new OpenStreams(config.SSE_STREAMS_PER_TENANT);
  const keys = new ApiKeys(db, config.ADMIN_API_KEY);
  // A key revoked by any API process is forgotten here, and whatever was opened with it ends.
  hub.onKeyRevoked((keyId) => {
    keys.forget(keyId);
    streams.endKey(keyId);
  });
  const sessions = new BrowserSessions(keys, redisSessionEnds(redis, config.QUEUE_PREFIX), { secret: sessionSecret(config), cookieSecure: config.COOKIE_SECURE });
  const rateLimit = tenantRateLimit(redis, config.QUEUE_PREFIX, config.RATE_LIMIT_PER_MINUTE);
  const pages = consolePages({
    reader,
    renderer: new ConsoleRenderer(),
    store,
    batches,
    hub,
    streams,
    keys,
    sessions,
    rateLimit,
    sseHeartbeatMs: config.SSE_HEARTBEAT_MS,
    fleet: () => fleetModel({ reader, queue, redis, prefix: config.QUEUE_PREFIX }),
    grafanaUrl: config.GRAFANA_URL,
  });
  const app = createApp({
    store,
    approvals: new Approvals(db),
    submitter,
    logger,
    metrics,
    hub,
    streams,
    keys,
    sessions,
    queue,
    idempotency: new Idempotency(db),
    authFailuresPerMinute: config.AUTH_FAILURES_PER_MINUTE,
    metricsAccess: metricsAccess(config.METRICS_TOKEN, isDevelopment(config)),
    rateLimit,
    batches,
    webhooks,
    webhookAllowlist: config.WEBHOOK_URL_ALLOWLIST,
    webhooksPerTenant: config.WEBHOOKS_PER_TENANT,
    announceCancel: (ids) => announceCancellations(redis, config.QUEUE_PREFIX, ids),
    maxBatch: config.BATCH_MAX,
    missionLimits: { defaultDeadlineS: config.MISSION_DEADLINE_S, maxDeadlineS: config.MISSION_DEADLINE_MAX_S },
    admit: missionAdmission({ store, files, workspaceBytes: config.SANDBOX_WORKSPACE_MB << 20, environments: config.ENVIRONMENTS, endpoints: config.LLM_ENDPOINTS, tenantUrlAllowlist: config.LLM_TENANT_URL_ALLOWLIST, allowsOwnUrl: ownUrlPermission(db) }),
    sseHeartbeatMs: config.SSE_HEARTBEAT_MS,
    corsOrigins: config.CORS_ORIGINS,
    trustProxy: config.TRUST_PROXY,
    files,
    artifacts: new ArtifactStore(db),
    // An upload may fill the largest workspace of any environment; each mission's is checked at submission.
    archiveLimits: archiveLimits(Math.max(config.SANDBOX_WORKSPACE_MB << 20, ...Object.values(config.ENVIRONMENTS).map((environment) => environment.workspaceBytes ?? 0))),
    fileMaxBytes: config.FILE_MAX_BYTES,
    fileUploadsAtOnce: config.FILE_UPLOADS_AT_ONCE,
    readiness: async () => ({
      checks: {
        postgres: await withTimeout(db.raw('select 1'), 2_000).then(() => true, () => false),
        redis: await withTimeout(redis.ping(), 2_000).then(() => true, () => false),
      },
      workers: await withTimeout(liveWorkers(redis, config.QUEUE_PREFIX), 2_000).catch(() => null),
    }),
  }, pages);
  // Queue depth is read from Redis at each scrape (every state BullMQ keeps; completed and failed jobs are trimmed).
  metrics.beforeScrape.push(async () => {
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed');
    for (const [state, count] of Object.entries(counts)) metrics.queueJobs.set({ state }, count);
    metrics.workersAlive.set(await liveWorkers(redis, config.QUEUE_PREFIX));
    metrics.webhookPending.set(await webhooks.pending());
  });
  const server = app.listen(config.PORT);
  // Once closing, every answer ends its connection: a client on keep-alive (a scraper) cannot hold the close open.
  let closing = false;
  server.prependListener('request', (_request, response) => closing && response.setHeader('connection', 'close'));
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'api listening');
  if (!config.METRICS_TOKEN && !isDevelopment(config)) logger.warn('METRICS_TOKEN is not set: /metrics answers 403 to every scrape');
  const close = shutdownSequence(
    [
      [
        'stop intake',
        async (until) => {
          logger.info({ event_streams: streams.size }, 'api: taking no more requests; ending event streams');
          closing = true;
          const closed = new Promise((resolve) => server.close(resolve));
          streams.endAll();
          server.closeIdleConnections();
          // Requests under way may finish until shortly before the deadline; then their connections are cut.
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, until - Date.now() - 1_000))))]);
          clearTimeout(timer);
          server.closeAllConnections();
        },
      ],
      ['stop sweeper', () => sweeper.stop()],
      ['stop webhook deliveries', () => deliverer.stop()],
      ['stop retention', () => retention.stop()],
      ['finish submissions', () => submitter.drain()],
      ['stop event hub', () => hub.close()],
      ['close queue', () => queue.close()],
      ['close redis', () => redis.quit()],
      ['close database', () => db.destroy()],
    ],
    config.SHUTDOWN_TIMEOUT_MS,
    logger,
  );
  return { port, submitter, close };
}

if (require.main === module) runService('api', startApi);

import { randomUUID } from 'node:crypto';
import cors from 'cors';
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler, type Response } from 'express';
import type { Queue } from 'bullmq';
import helmet from 'helmet';
import type { MissionStore } from '../store/missionStore';
import type { Logger } from '../lib/logger';
import type { metricsAccess } from '../lib/metricsAccess';
import { renderMetrics, type Metrics } from '../lib/metrics';
import type { MissionJobData } from '../lib/queue';
import type { BrowserSessions } from './browserSessions';
import { adminUi } from './adminUi';
import type { ApiKeys } from './apiKeys';
import { authenticate, callerOf, requireAdmin } from './auth';
import type { MissionEventHub } from './eventHub';
import { adminHandlers } from './handlers/admin';
import { batchHandlers, type BatchHandlerDeps } from './handlers/batches';
import { webhookHandlers, type WebhookHandlerDeps } from './handlers/webhooks';
import { fileHandlers, type FileHandlerDeps } from './handlers/files';
import { artifactHandlers, type ArtifactHandlerDeps } from './handlers/artifacts';
import { streamArtifactArchive } from './artifactArchive';
import { missionHandlers, type MissionHandlerDeps } from './handlers/missions';
import type { HandlerResult } from './handlers/result';
import type { Idempotency } from './idempotency';
import { openApiDocument } from './openapi';
import type { OpenStreams } from './openStreams';
import { HttpProblem } from './problem';
import { streamBatchResults } from './resultsStream';
import { streamMissionEvents } from './sse';
import { uploadSlots } from './uploadSlots';

export interface AppDeps extends MissionHandlerDeps, BatchHandlerDeps, WebhookHandlerDeps, FileHandlerDeps, ArtifactHandlerDeps {
  store: MissionStore;
  logger: Logger;
  metrics: Metrics;
  keys: ApiKeys;
  /** Browser sessions of the console and Bull Board. */
  sessions: BrowserSessions;
  /** The mission queue, for Bull Board. */
  queue: Queue<MissionJobData>;
  idempotency: Idempotency;
  hub: MissionEventHub;
  /** The open event streams: shutdown and key revocations end them. */
  streams: OpenStreams;
  rateLimit: RequestHandler;
  /** Who may scrape /metrics (METRICS_TOKEN). */
  metricsAccess: ReturnType<typeof metricsAccess>;
  /** Invalid API keys one client address may send a minute before it is refused without a lookup. */
  authFailuresPerMinute: number;
  /** Whether Postgres and Redis answer, and how many workers have a live heartbeat (null: Redis does not say), for /readyz. */
  readiness(): Promise<{ checks: Record<string, boolean>; workers: number | null }>;
  sseHeartbeatMs: number;
  /** Express's `trust proxy` (TRUST_PROXY): false unless proxies stand in front. */
  trustProxy: boolean | number | string;
  /** Origins whose browsers may call the API (CORS); none unless configured. */
  corsOrigins: readonly string[];
  /** The largest body POST /v1/files reads (FILE_MAX_BYTES), and how many it reads at once. */
  fileMaxBytes: number;
  fileUploadsAtOnce: number;
}

const EXPOSED_HEADERS = ['Location', 'X-Request-Id', 'Idempotent-Replayed', 'Retry-After', 'RateLimit', 'RateLimit-Policy'];
// Room for a mission whose write_file holds the most a file may hold (1 MiB, or its base64), with JSON's escapes.
const SINGLE_BODY_LIMIT = '4mb';
const BATCH_BODY_LIMIT = '32mb';
const REQUEST_ID = /^[\w.:-]{1,64}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Routes mounted beside the API's own by whoever starts it (the console): given the API's handlers, so that what
 * they do is what the API does. They come after `/v1`'s authentication and rate limit, before the 404.
 */
export type AppPages = (
  app: Express,
  handlers: { missions: ReturnType<typeof missionHandlers>; batches: ReturnType<typeof batchHandlers>; artifacts: ReturnType<typeof artifactHandlers> },
) => void;

/** The thin Express adapter: routes to framework-free handlers and renders every error as a problem. */
export function createApp(deps: AppDeps, pages: AppPages = () => undefined): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Behind a proxy (TRUST_PROXY), req.ip is the client's address and req.secure what the client used.
  app.set('trust proxy', deps.trustProxy);
  const missions = missionHandlers(deps);
  const batches = batchHandlers(deps);
  const webhooks = webhookHandlers(deps);
  const admin = adminHandlers(deps.keys, deps.store);
  const files = fileHandlers(deps);
  const artifacts = artifactHandlers(deps);
  // The archive's bytes as sent: a body that says it is compressed in transit is refused, not inflated unbounded.
  const archiveBody = express.raw({ limit: deps.fileMaxBytes, type: () => true, inflate: false });
  const route = (handler: (req: Request) => Promise<HandlerResult>) => async (req: Request, res: Response) => {
    const result = await handler(req);
    res.status(result.status).set(result.headers ?? {}).json(result.body);
  };
  const json = (limit: string) => express.json({ limit, type: () => true, verify: rejectInvalidUtf8 });
  const idempotent = (req: Request, handler: () => Promise<HandlerResult>) =>
    deps.idempotency.run(callerOf(req).tenantId, req.get('idempotency-key'), { method: req.method, path: req.path, body: req.body }, handler);

  // Security headers on every answer; cross-origin requests only from the origins the operator named.
  app.use(helmet());
  if (deps.corsOrigins.length > 0) {
    app.use(cors({ origin: [...deps.corsOrigins], exposedHeaders: EXPOSED_HEADERS, maxAge: 600 }));
  }
  app.use(requestId, observe(deps.metrics));
  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  // Ready means this API can accept missions durably; no live worker does not stop that, but it is said.
  app.get('/readyz', async (_req, res) => {
    const { checks, workers } = await deps.readiness();
    const ready = Object.values(checks).every(Boolean);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks, workers_alive: workers });
  });
  app.get('/metrics', async (req, res) => {
    const allowed = deps.metricsAccess(req.get('authorization'));
    if (allowed === 'unauthorized') throw new HttpProblem(401, 'unauthorized', 'The metrics token is required.', 'send Authorization: Bearer <METRICS_TOKEN>');
    if (allowed === 'unconfigured') throw new HttpProblem(403, 'metrics-not-configured', 'Outside development /metrics needs METRICS_TOKEN set.');
    res.type(deps.metrics.registry.contentType).send(await renderMetrics(deps.metrics));
  });
  const openApi = openApiDocument(deps.maxBatch, deps.missionLimits);
  app.get('/openapi.json', (_req, res) => void res.json(openApi));

  app.use(adminUi(deps.keys, deps.sessions, deps.queue));
  app.use('/v1', authenticate(deps.keys, deps.authFailuresPerMinute), deps.rateLimit);
  app.post('/v1/missions/batch', json(BATCH_BODY_LIMIT), route((req) => idempotent(req, () => missions.createBatch(callerOf(req), req.body))));
  app.post('/v1/missions', json(SINGLE_BODY_LIMIT), route((req) => idempotent(req, () => missions.create(callerOf(req), req.body))));
  app.get('/v1/missions', route((req) => missions.list(callerOf(req), req.query)));
  app.get('/v1/missions/:id', route((req) => missions.get(callerOf(req), req.params.id as string)));
  app.get('/v1/missions/:id/steps', route((req) => missions.steps(callerOf(req), req.params.id as string, req.query)));
  app.post('/v1/missions/:id/cancel', route((req) => missions.cancel(callerOf(req), req.params.id as string)));
  app.post('/v1/missions/:id/approvals', json(SINGLE_BODY_LIMIT), route((req) => missions.decide(callerOf(req), req.params.id as string, req.body)));
  app.get('/v1/missions/:id/artifacts', route(async (req) => artifacts.list(await missions.findMission(callerOf(req), req.params.id as string))));
  app.get('/v1/missions/:id/artifacts.tar.gz', async (req, res) => {
    const mission = await missions.findMission(callerOf(req), req.params.id as string);
    await streamArtifactArchive(res, deps.artifacts, mission.id);
  });
  app.get('/v1/missions/:id/artifacts/*path', async (req, res) => {
    const mission = await missions.findMission(callerOf(req), req.params.id as string);
    const { content, name } = await artifacts.one(mission, (req.params.path as unknown as string[]).join('/'));
    res.status(200).type('application/octet-stream').attachment(name).send(content);
  });
  app.get('/v1/missions/:id/events', async (req, res) => {
    const mission = await missions.findMission(callerOf(req), req.params.id as string);
    await streamMissionEvents(req, res, mission, callerOf(req), deps, { heartbeatMs: deps.sseHeartbeatMs });
  });
  app.get('/v1/batches/:id', route((req) => batches.get(callerOf(req), req.params.id as string)));
  app.get('/v1/batches/:id/results', async (req, res) => {
    const filter = await batches.resultsFilter(callerOf(req), req.params.id as string, req.query);
    await streamBatchResults(res, deps.batches.results(req.params.id as string, filter));
  });
  app.post('/v1/batches/:id/cancel', route((req) => batches.cancel(callerOf(req), req.params.id as string)));
  app.post('/v1/batches/:id/retry', json(SINGLE_BODY_LIMIT), route((req) => idempotent(req, () => batches.retry(callerOf(req), req.params.id as string, req.body))));
  app.get('/v1/batches/:id/compare', route((req) => batches.compare(callerOf(req), req.params.id as string, req.query)));
  app.post('/v1/files', uploadSlots(deps.fileUploadsAtOnce), archiveBody, route((req) => files.upload(callerOf(req), req.body)));
  app.get('/v1/files/:id', route((req) => files.get(callerOf(req), req.params.id as string)));
  app.post('/v1/webhooks', json(SINGLE_BODY_LIMIT), route((req) => webhooks.create(callerOf(req), req.body)));
  app.get('/v1/webhooks', route((req) => webhooks.list(callerOf(req), req.query)));
  app.delete('/v1/webhooks/:id', route((req) => webhooks.remove(callerOf(req), req.params.id as string)));
  app.get('/v1/webhooks/:id/deliveries', route((req) => webhooks.deliveries(callerOf(req), req.params.id as string, req.query)));
  app.post('/v1/webhooks/:id/deliveries/:delivery/redeliver', route((req) => webhooks.redeliver(callerOf(req), req.params.id as string, req.params.delivery as string)));
  app.post('/v1/admin/tenants', requireAdmin, json(SINGLE_BODY_LIMIT), route((req) => admin.createTenant(req.body)));
  app.patch('/v1/admin/tenants/:id', requireAdmin, json(SINGLE_BODY_LIMIT), route((req) => admin.updateTenant(req.params.id as string, req.body)));
  app.get('/v1/admin/tenants/:id/storage', requireAdmin, route((req) => admin.storage(req.params.id as string)));
  app.post('/v1/admin/tenants/:id/keys', requireAdmin, route((req) => admin.createKey(req.params.id as string)));
  app.get('/v1/admin/tenants/:id/keys', requireAdmin, route((req) => admin.listKeys(req.params.id as string, req.query)));
  app.delete('/v1/admin/tenants/:id/keys/:key', requireAdmin, route((req) => admin.revokeKey(req.params.id as string, req.params.key as string)));
  pages(app, { missions, batches, artifacts });

  app.use((req, _res, next) => next(HttpProblem.notFound(`${req.method} ${req.path}`)));
  app.use(problemMiddleware(deps.logger));
  return app;
}

function rejectInvalidUtf8(_req: unknown, _res: unknown, body: Buffer): void {
  try {
    utf8.decode(body);
  } catch {
    throw new HttpProblem(400, 'invalid-encoding', 'The body is not valid UTF-8.');
  }
}

/** Every response carries X-Request-Id: the caller's, when it sent a sane one, or a new one. */
const requestId: RequestHandler = (req, res, next) => {
  const given = req.get('x-request-id');
  res.locals.requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
  res.set('X-Request-Id', res.locals.requestId as string);
  next();
};

function observe(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.once('finish', () => end({ route: req.route?.path ?? 'unmatched', method: req.method, status: String(res.statusCode) }));
    next();
  };
}

/** Body-parser errors carry a `type`; everything unknown is a 500 whose details stay in the log. */
function problemMiddleware(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const problem = toProblem(error);
    const requestId = res.locals.requestId as string;
    if (problem.status >= 500) logger.error({ err: error, method: req.method, path: req.path, request_id: requestId }, 'request failed');
    else logger.info({ status: problem.status, type: problem.code, detail: problem.detail, method: req.method, path: req.path, request_id: requestId }, 'request refused');
    if (res.headersSent) return void res.end();
    res.status(problem.status).type('application/problem+json').send(JSON.stringify({ ...problem.toBody(), request_id: requestId }));
  };
}

function toProblem(error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error;
  const { type, message } = error as { type?: string; message?: string };
  if (type === 'entity.parse.failed') return new HttpProblem(400, 'malformed-json', 'The body is not valid JSON.', message);
  if (type === 'entity.too.large') return new HttpProblem(413, 'body-too-large', 'The body is too large.', message);
  if (type === 'charset.unsupported' || type === 'encoding.unsupported') {
    return new HttpProblem(415, 'unsupported-encoding', 'The body encoding is not supported.', message);
  }
  return new HttpProblem(500, 'internal', 'Something went wrong on our side.');
}

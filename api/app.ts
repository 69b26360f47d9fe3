import express, { type ErrorRequestHandler, type Express, type Request } from 'express';
import type { Logger } from '../lib/logger';
import { requireApiKey } from './auth';
import { missionHandlers, type MissionHandlerDeps } from './handlers/missions';
import type { HandlerResult } from './handlers/result';
import { HttpProblem } from './problem';

export interface AppDeps extends MissionHandlerDeps {
  logger: Logger;
  adminApiKey: string;
  /** Largest accepted request body. Default 1 MiB. */
  bodyLimit?: string;
}

/** The thin Express adapter: routes to framework-free handlers and renders every error as a problem. */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  const missions = missionHandlers(deps);
  const route = (handler: (req: Request) => Promise<HandlerResult>) => async (req: Request, res: express.Response) => {
    const result = await handler(req);
    res.status(result.status).set(result.headers ?? {}).json(result.body);
  };

  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));

  app.use('/v1', requireApiKey(deps.adminApiKey), express.json({ limit: deps.bodyLimit ?? '1mb', type: () => true }));
  app.post('/v1/missions', route((req) => missions.create(req.body)));
  app.get('/v1/missions/:id', route((req) => missions.get(req.params.id as string)));

  app.use((req, _res, next) => next(HttpProblem.notFound(`${req.method} ${req.path}`)));
  app.use(problemMiddleware(deps.logger));
  return app;
}

/** Body-parser errors carry a `type`; everything unknown is a 500 whose details stay in the log. */
function problemMiddleware(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const problem = toProblem(error);
    if (problem.status >= 500) logger.error({ err: error, method: req.method, path: req.path }, 'request failed');
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem.toBody()));
  };
}

function toProblem(error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error;
  const type = (error as { type?: string }).type;
  if (type === 'entity.parse.failed') {
    return new HttpProblem(400, 'malformed-json', 'The body is not valid JSON.', (error as Error).message);
  }
  if (type === 'entity.too.large') return new HttpProblem(413, 'body-too-large', 'The body is too large.');
  if (type === 'charset.unsupported' || type === 'encoding.unsupported') {
    return new HttpProblem(415, 'unsupported-encoding', 'The body encoding is not supported.', (error as Error).message);
  }
  return new HttpProblem(500, 'internal', 'Something went wrong on our side.');
}

import express, { type RequestHandler } from 'express';
import type { AppPages } from '../api/app';
import type { ApiKeys } from '../api/apiKeys';
import { callerOf } from '../api/auth';
import type { BrowserSessions } from '../api/browserSessions';
import { HttpProblem } from '../api/problem';
import { isUuid } from '../lib/ids';
import type { fleetModel } from './fleet';
import { batchPages, type BatchPagesDeps } from './batchPages';
import { missionPages, type MissionPagesDeps } from './missionPages';
import { pageRoute } from './pages';
import { ASSETS } from './render';
import { batchReportHtml } from './report';
import { CONSOLE, consoleSessions, viewerOf } from './session';

export interface ConsoleDeps extends Omit<MissionPagesDeps, 'missions' | 'artifactFiles'>, Omit<BatchPagesDeps, 'batchActions'> {
  keys: ApiKeys;
  sessions: BrowserSessions;
  /** The API's per-tenant request limit, which a signed-in viewer's pages count against too. */
  rateLimit: RequestHandler;
  /** What the fleet page shows (fleetModel over this API's Redis and Postgres). */
  fleet(): ReturnType<typeof fleetModel>;
  /** Where the operator's Grafana dashboards are, when there is one to link to. */
  grafanaUrl: string | undefined;
}

/**
 * The console under /console: server-rendered pages for people, for tenants (their missions and batches) and
 * the admin (everyone's, and the fleet); and a batch's report for API clients (`GET /v1/batches/:id/report`).
 * Assets come from this folder and from node_modules at fixed paths. Its actions go through the API's handlers.
 */
export function consolePages(deps: ConsoleDeps): AppPages {
  return (app, handlers) => {
    const { router, requireViewer } = consoleSessions(deps.keys, deps.sessions, deps.renderer);
    app.get(`${CONSOLE}/assets/:name`, (req, res, next) => {
      const file = Object.hasOwn(ASSETS, req.params.name) ? ASSETS[req.params.name] : undefined;
      if (!file) return next();
      res.sendFile(file, { maxAge: '1h', dotfiles: 'deny' });
    });
    app.use(router);
    app.use(CONSOLE, express.urlencoded({ extended: false, limit: '16kb' }), requireViewer, deps.rateLimit);
    missionPages(app, { ...deps, missions: handlers.missions, artifactFiles: handlers.artifacts });
    batchPages(app, { ...deps, batchActions: handlers.batches });
    app.get(`${CONSOLE}/fleet`, pageRoute(deps.renderer, async (_req, res) => {
      if (!viewerOf(res).caller.admin) throw new HttpProblem(403, 'forbidden', 'The fleet page is for the admin.');
      return { render: 'fleet', data: { ...(await deps.fleet()), grafanaUrl: deps.grafanaUrl } };
    }));
    app.get('/v1/batches/:id/report', async (req, res) => {
      const id = req.params.id as string;
      const html = isUuid(id) ? await batchReportHtml(deps, callerOf(req).tenantId, id) : undefined;
      if (!html) throw HttpProblem.notFound(`batch ${id}`);
      res.attachment(`batch-${id}-report.html`).type('html').send(html);
    });
  };
}

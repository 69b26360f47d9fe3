import express, { type Express } from 'express';
import type { ApiKeys } from '../api/apiKeys';
import type { BrowserSessions } from '../api/browserSessions';
import type { fleetModel } from './fleet';
import { batchPages, type BatchPagesDeps } from './batchPages';
import { missionPages, type MissionPagesDeps } from './missionPages';
import { pageRoute } from './pages';
import { ASSETS } from './render';
import { CONSOLE, consoleSessions, viewerOf } from './session';
import { HttpProblem } from '../api/problem';

export interface ConsoleDeps extends MissionPagesDeps, BatchPagesDeps {
  keys: ApiKeys;
  sessions: BrowserSessions;
  /** What the fleet page shows (fleetModel over this API's Redis and Postgres). */
  fleet(): ReturnType<typeof fleetModel>;
  /** Where the operator's Grafana dashboards are, when there is one to link to. */
  grafanaUrl: string | undefined;
}

/**
 * The console under /console: server-rendered pages for people, for tenants (their missions and batches) and
 * the admin (everyone's, and the fleet). Assets come from this folder and from node_modules at fixed paths.
 */
export function mountConsole(app: Express, deps: ConsoleDeps): void {
  const { router, requireViewer } = consoleSessions(deps.keys, deps.sessions, deps.renderer);
  app.get(`${CONSOLE}/assets/:name`, (req, res, next) => {
    const file = Object.hasOwn(ASSETS, req.params.name) ? ASSETS[req.params.name] : undefined;
    if (!file) return next();
    res.sendFile(file, { maxAge: '1h', dotfiles: 'deny' });
  });
  app.use(router);
  app.use(CONSOLE, express.urlencoded({ extended: false, limit: '16kb' }), requireViewer);
  missionPages(app, deps);
  batchPages(app, deps);
  app.get(`${CONSOLE}/fleet`, pageRoute(deps.renderer, async (_req, res) => {
    if (!viewerOf(res).caller.admin) throw new HttpProblem(403, 'forbidden', 'The fleet page is for the admin.');
    return { render: 'fleet', data: { ...(await deps.fleet()), grafanaUrl: deps.grafanaUrl } };
  }));
}

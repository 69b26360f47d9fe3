import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { MissionJobData } from '../lib/queue';
import type { BrowserSessions } from './browserSessions';
import type { ApiKeys, Caller } from './apiKeys';
import { HttpProblem } from './problem';

export const BOARD_PATH = '/admin/queues';
const LOGIN_PATH = '/admin/login';

/**
 * The operator's pages: Bull Board at /admin/queues (every job of the mission queue, its data and result, retry
 * and remove), for the admin only. A browser logs in with the admin key in a form and gets an HttpOnly,
 * SameSite=Strict session cookie; scripts send the admin key as a Bearer token or as HTTP Basic's password. The
 * key never travels in a URL. A tenant's key is a 403; no credentials a 401, or the login page for a browser.
 */
export function adminUi(keys: ApiKeys, sessions: BrowserSessions, queue: Queue<MissionJobData>): Router {
  const router = express.Router();
  const board = new ExpressAdapter();
  board.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(queue, { description: 'One job per mission run; the job id is the mission id (then <id>-<n>)', externalJobUrl: missionLink })],
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'mission-control' } },
  });
  const form = express.urlencoded({ extended: false, limit: '4kb' });
  // Guessing the key by the form is slowed down (failed tries, per client address); it is long anyway.
  const loginLimit = rateLimit({ windowMs: 60_000, limit: 20, skipSuccessfulRequests: true, standardHeaders: 'draft-8', legacyHeaders: false });
  const page = (req: Request, res: Response, status: number, error?: string) => void res.status(status).type('html').send(loginPage(sessions.loginToken(req, res), error));

  router.get(LOGIN_PATH, (req, res) => page(req, res, 200));
  router.post(LOGIN_PATH, loginLimit, form, async (req, res) => {
    if (!sessions.validLogin(req, req.body?._login)) return page(req, res, 403, 'This form has expired; log in again.');
    const key = typeof req.body?.key === 'string' ? req.body.key : '';
    const caller = key ? await keys.resolve(key) : undefined;
    if (!caller?.admin) return page(req, res, 401, 'That is not the admin key.');
    sessions.start(req, res, caller);
    res.redirect(303, BOARD_PATH);
  });
  router.post('/admin/logout', async (req, res) => {
    await sessions.end(req, res);
    res.redirect(303, LOGIN_PATH);
  });
  router.use(BOARD_PATH, requireAdminCaller(keys, sessions), board.getRouter() as RequestHandler);
  return router;
}

/** Lets the admin through, by session cookie, Bearer token or HTTP Basic; everyone else is refused. */
function requireAdminCaller(keys: ApiKeys, sessions: BrowserSessions): RequestHandler {
  return async (req, res, next) => {
    if ((await sessions.viewer(req))?.caller.admin) return next();
    const caller = await callerOf(req, keys);
    if (caller?.admin) return next();
    if (caller) return next(new HttpProblem(403, 'forbidden', 'Bull Board needs the admin key.'));
    if (req.accepts(['json', 'html']) === 'html') return res.redirect(303, LOGIN_PATH);
    res.set('WWW-Authenticate', 'Basic realm="mission-control admin", charset="UTF-8"');
    next(new HttpProblem(401, 'unauthorized', 'The admin key is required.', 'log in at /admin/login, or send it as a Bearer token or as HTTP Basic\'s password'));
  };
}

async function callerOf(req: Request, keys: ApiKeys): Promise<Caller | undefined> {
  const [scheme, credentials] = (req.get('authorization') ?? '').split(' ');
  if (!credentials) return undefined;
  if (/^bearer$/i.test(scheme!)) return keys.resolve(credentials);
  if (!/^basic$/i.test(scheme!)) return undefined;
  const decoded = Buffer.from(credentials, 'base64').toString();
  return keys.resolve(decoded.slice(decoded.indexOf(':') + 1));
}

/** Each job links to its mission's page in the console (the admin's session is the console's too). */
function missionLink(job: { data?: unknown }) {
  const missionId = (job.data as Partial<MissionJobData> | undefined)?.mission_id ?? '';
  return { displayText: 'mission', href: `/console/missions/${encodeURIComponent(missionId)}` };
}

function loginPage(token: string, error?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mission-control admin</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;background:#151a21;color:#e6e9ee;display:flex;justify-content:center;padding-top:15vh}
form{display:flex;flex-direction:column;gap:.75rem;width:22rem}input,button{font-size:1rem;padding:.5rem}
.error{color:#ff8a80}</style></head>
<body><form method="post" action="${LOGIN_PATH}">
<h1>mission-control</h1><label for="key">Admin key</label>
<input type="hidden" name="_login" value="${token}">
<input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
${error ? `<p class="error" role="alert">${error}</p>` : ''}<button type="submit">Log in</button></form></body></html>`;
}

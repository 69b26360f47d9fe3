import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { ApiKeys, Caller } from '../api/apiKeys';
import type { BrowserSessions } from '../api/browserSessions';
import type { ConsoleRenderer, PageContext } from './render';

export const CONSOLE = '/console';
const LOGIN = `${CONSOLE}/login`;

/** Who is looking at a console page, and the token its forms carry. */
export interface Viewer {
  caller: Caller;
  tenantName: string;
  csrf: string;
}

export const viewerOf = (res: Response) => res.locals.viewer as Viewer;

export const pageOf = (res: Response): PageContext => {
  const viewer = viewerOf(res);
  return { caller: viewer.caller, tenantName: viewer.tenantName, csrf: viewer.csrf, now: Date.now() };
};

/** Where a signed-in browser may be sent back to: a console path of ours, never another site. */
const safeNext = (next: unknown) => (typeof next === 'string' && /^\/console\/[\w\-/?=&%.]*$/.test(next) && !next.startsWith('//') ? next : `${CONSOLE}/missions`);

/**
 * Signing in: a tenant's API key (or the admin key) in a form gives an HttpOnly, SameSite=Strict session cookie
 * that holds no key. Pages after it need the session; every POST needs the session's CSRF token too, and the
 * login form a token of its own. Failed sign-ins are limited per client address (the real one behind TRUST_PROXY).
 */
export function consoleSessions(keys: ApiKeys, sessions: BrowserSessions, renderer: ConsoleRenderer): { router: Router; requireViewer: RequestHandler } {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb' });
  const loginLimit = rateLimit({ windowMs: 60_000, limit: 20, skipSuccessfulRequests: true, standardHeaders: 'draft-8', legacyHeaders: false });
  const loginPage = (req: Request, res: Response, status: number, next: string, error?: string) =>
    res.status(status).type('html').send(renderer.render('login', { now: Date.now() }, { title: 'Sign in', next, error, token: sessions.loginToken(req, res) }));

  router.get(LOGIN, (req, res) => loginPage(req, res, 200, safeNext(req.query.next)));
  router.post(LOGIN, loginLimit, form, async (req, res) => {
    if (!sessions.validLogin(req, req.body?._login)) return void loginPage(req, res, 403, safeNext(req.body?.next), 'This form has expired or did not come from this console.');
    const key = typeof req.body?.key === 'string' ? req.body.key.trim() : '';
    const caller = key ? await keys.resolve(key) : undefined;
    if (!caller) return void loginPage(req, res, 401, safeNext(req.body?.next), 'That key is not valid.');
    sessions.start(req, res, caller);
    res.redirect(303, safeNext(req.body?.next));
  });

  const requireViewer: RequestHandler = async (req, res, next) => {
    const found = await sessions.viewer(req);
    if (!found) return signIn(req, res);
    const viewer: Viewer = { caller: found.caller, tenantName: found.tenantName, csrf: sessions.csrfToken(found.session) };
    res.locals.viewer = viewer;
    // The caller, as the API's middleware after this (its rate limit) reads it.
    res.locals.caller = found.caller;
    if (req.method === 'POST' && !sessions.validCsrf(found.session, req.body?._csrf)) {
      const problem = { title: 'This form has expired or did not come from this console.', detail: 'Open the page again and repeat what you did.' };
      return void res.status(403).type('html').send(renderer.render('problem', pageOf(res), { title: 'Forbidden', status: 403, problem }));
    }
    next();
  };
  router.post(`${CONSOLE}/logout`, form, requireViewer, async (req, res) => {
    await sessions.end(req, res);
    res.redirect(303, LOGIN);
  });
  return { router, requireViewer };
}

function signIn(req: Request, res: Response): void {
  if (req.method === 'GET' && req.accepts(['html', 'json']) === 'html') return res.redirect(303, `${LOGIN}?next=${encodeURIComponent(req.originalUrl)}`);
  res.status(401).type('text/plain').send('Sign in at /console/login first.');
}

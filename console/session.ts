import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { rateLimit } from 'express-rate-limit';
import { ADMIN_CALLER, type ApiKeys, type Caller } from '../api/apiKeys';
import { ADMIN_SUBJECT, SESSION_COOKIE, cookieValue, type BrowserSessions } from '../api/browserSessions';
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
 * that holds no key. Pages after it need the session; every POST needs the session's CSRF token too.
 */
export function consoleSessions(keys: ApiKeys, sessions: BrowserSessions, renderer: ConsoleRenderer): { router: Router; requireViewer: RequestHandler } {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '4kb' });
  const loginLimit = rateLimit({ windowMs: 60_000, limit: 20, standardHeaders: 'draft-8', legacyHeaders: false });
  const loginPage = (res: Response, status: number, next: string, error?: string) =>
    res.status(status).type('html').send(renderer.render('login', { now: Date.now() }, { title: 'Sign in', next, error }));

  router.get(LOGIN, (req, res) => loginPage(res, 200, safeNext(req.query.next)));
  router.post(LOGIN, loginLimit, form, async (req, res) => {
    const key = typeof req.body?.key === 'string' ? req.body.key.trim() : '';
    const caller = key ? await keys.resolve(key) : undefined;
    if (!caller) return void loginPage(res, 401, safeNext(req.body?.next), 'That key is not valid.');
    const session = sessions.issue(caller.admin ? ADMIN_SUBJECT : caller.tenantId);
    res.cookie(SESSION_COOKIE, session.value, { httpOnly: true, sameSite: 'strict', secure: req.secure, maxAge: session.maxAgeMs, path: '/' });
    res.redirect(303, safeNext(req.body?.next));
  });

  const requireViewer: RequestHandler = async (req, res, next) => {
    const session = cookieValue(req.get('cookie'), SESSION_COOKIE);
    const subject = sessions.subject(session);
    const viewer = subject && (await viewerFor(keys, subject, sessions.csrfToken(session!)));
    if (!viewer) return signIn(req, res);
    res.locals.viewer = viewer;
    if (req.method === 'POST' && !sessions.validCsrf(session!, req.body?._csrf)) {
      const problem = { title: 'This form has expired or did not come from this console.', detail: 'Open the page again and repeat what you did.' };
      return void res.status(403).type('html').send(renderer.render('problem', pageOf(res), { title: 'Forbidden', status: 403, problem }));
    }
    next();
  };
  router.post(`${CONSOLE}/logout`, form, requireViewer, (_req, res) => {
    res.clearCookie(SESSION_COOKIE, { path: '/' });
    res.redirect(303, LOGIN);
  });
  return { router, requireViewer };
}

async function viewerFor(keys: ApiKeys, subject: string, csrf: string): Promise<Viewer | undefined> {
  if (subject === ADMIN_SUBJECT) return { caller: ADMIN_CALLER, tenantName: 'admin', csrf };
  const tenant = await keys.tenant(subject);
  return tenant && { caller: tenant.caller, tenantName: tenant.name, csrf };
}

function signIn(req: Request, res: Response): void {
  if (req.method === 'GET' && req.accepts(['html', 'json']) === 'html') return res.redirect(303, `${LOGIN}?next=${encodeURIComponent(req.originalUrl)}`);
  res.status(401).type('text/plain').send('Sign in at /console/login first.');
}

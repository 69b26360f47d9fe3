import type { Request, RequestHandler } from 'express';
import { LruCache } from '../lib/lruCache';
import type { ApiKeys, Caller } from './apiKeys';
import { HttpProblem } from './problem';

const FAILURE_WINDOW_MS = 60_000;
/** Client addresses whose failures are counted at once; past it the quietest are forgotten first. */
const ADDRESSES_COUNTED = 100_000;

/**
 * Requires `Authorization: Bearer <api key>` and records who is calling for the handlers. A client address with
 * `failuresPerMinute` failed attempts in the last minute is refused before its key is looked up (the client
 * address is the real one behind TRUST_PROXY).
 */
export function authenticate(keys: ApiKeys, failuresPerMinute: number): RequestHandler {
  const failures = new LruCache<{ count: number; since: number }>(ADDRESSES_COUNTED, FAILURE_WINDOW_MS);
  return async (req, res, next) => {
    // Nothing to look up until some address has failed (req.ip parses the forwarding headers on each call).
    const seen = failures.size > 0 ? failures.get(clientAddress(req)) : undefined;
    if (seen && seen.count >= failuresPerMinute) {
      res.set('Retry-After', String(Math.ceil((seen.since + FAILURE_WINDOW_MS - Date.now()) / 1000)));
      return next(new HttpProblem(429, 'too-many-failed-logins', `This address sent ${failuresPerMinute} invalid API keys within a minute.`, 'wait, then use a valid key'));
    }
    const match = /^Bearer (\S{1,512})$/i.exec(req.get('authorization') ?? '');
    const caller = match ? await keys.resolve(match[1]!) : undefined;
    if (caller) {
      res.locals.caller = caller;
      return next();
    }
    if (seen) seen.count++;
    else failures.set(clientAddress(req), { count: 1, since: Date.now() });
    res.set('WWW-Authenticate', 'Bearer');
    next(new HttpProblem(401, 'unauthorized', 'A valid API key is required.', 'send Authorization: Bearer <api key>'));
  };
}

const clientAddress = (req: Request) => req.ip ?? 'unknown';

export function callerOf(req: Request): Caller {
  return req.res!.locals.caller as Caller;
}

export const requireAdmin: RequestHandler = (req, _res, next) => {
  next(callerOf(req).admin ? undefined : new HttpProblem(403, 'forbidden', 'This needs the admin key.'));
};

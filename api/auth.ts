import type { Request, RequestHandler } from 'express';
import type { ApiKeys, Caller } from './apiKeys';
import { HttpProblem } from './problem';

/** Requires `Authorization: Bearer <api key>` and records who is calling for the handlers. */
export function authenticate(keys: ApiKeys): RequestHandler {
  return async (req, res, next) => {
    const match = /^Bearer (\S{1,512})$/i.exec(req.get('authorization') ?? '');
    const caller = match ? await keys.resolve(match[1]!) : undefined;
    if (caller) {
      res.locals.caller = caller;
      return next();
    }
    res.set('WWW-Authenticate', 'Bearer');
    next(new HttpProblem(401, 'unauthorized', 'A valid API key is required.', 'send Authorization: Bearer <api key>'));
  };
}

export function callerOf(req: Request): Caller {
  return req.res!.locals.caller as Caller;
}

export const requireAdmin: RequestHandler = (req, _res, next) => {
  next(callerOf(req).admin ? undefined : new HttpProblem(403, 'forbidden', 'This needs the admin key.'));
};

import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { HttpProblem } from './problem';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Requires `Authorization: Bearer <key>` matching the admin key (compared in constant time). */
export function requireApiKey(adminApiKey: string): RequestHandler {
  const expected = digest(adminApiKey);
  return (req, res, next) => {
    const match = /^Bearer (\S+)$/i.exec(req.get('authorization') ?? '');
    if (match && timingSafeEqual(digest(match[1]!), expected)) return next();
    res.set('WWW-Authenticate', 'Bearer');
    next(new HttpProblem(401, 'unauthorized', 'An API key is required.', 'send Authorization: Bearer <api key>'));
  };
}

import type { Request, RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import type { Redis } from '../lib/redis';
import { callerOf } from './auth';
import { HttpProblem } from './problem';
import { RedisWindowStore, rateLimitKey } from './rateLimitStore';

/**
 * Requests per minute per tenant, counted in Redis so every API process shares the count (in blocks of
 * tickets: see RedisWindowStore for how exact). When Redis is away the limit is not enforced: submissions
 * must still be accepted (they are committed in Postgres).
 */
export function tenantRateLimit(redis: Redis, prefix: string, defaultPerMinute: number): RequestHandler {
  const limitOf = (req: Request): number => callerOf(req).rateLimitPerMinute ?? defaultPerMinute;
  return rateLimit({
    windowMs: 60_000,
    limit: limitOf,
    keyGenerator: (req) => rateLimitKey(limitOf(req), callerOf(req).tenantId),
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    store: new RedisWindowStore(redis, `${prefix}:ratelimit:`),
    handler: (req, res, next) => {
      const resetTime = (req as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      res.set('Retry-After', String(Math.max(1, Math.ceil(((resetTime?.getTime() ?? Date.now() + 60_000) - Date.now()) / 1000))));
      next(new HttpProblem(429, 'rate-limited', 'Too many requests.', 'slow down and retry after the Retry-After seconds'));
    },
  });
}

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Redis } from '../lib/redis';
import type { ApiKeys, Caller } from './apiKeys';

/** Where sessions ended by a logout are remembered until they would have expired anyway, for every API process. */
export interface SessionEnds {
  end(sessionId: string, ttlMs: number): Promise<void>;
  ended(sessionId: string): Promise<boolean>;
}

export interface SessionOptions {
  /** Signs every session and form token (SESSION_SECRET). */
  secret: string;
  /** Marks the cookies Secure whatever the request says (COOKIE_SECURE); https requests get it anyway. */
  cookieSecure: boolean;
  ttlMs?: number;
}

/** Who a session acts as. */
export interface SessionViewer {
  caller: Caller;
  tenantName: string;
  /** The cookie's value: what the session's CSRF tokens are made from. */
  session: string;
}

// On a Secure cookie the __Host- prefix makes the browser refuse one set by another host or path (a sibling
// subdomain tossing in a session of its choosing); plain http (development) cannot carry it.
const COOKIE = { secure: '__Host-mc_session', plain: 'mc_session' };
const LOGIN_COOKIE = { secure: '__Host-mc_login', plain: 'mc_login' };
const SESSION_VALUE = /^([\w-]{1,64})\.([\w-]{22})\.(\d{1,16})\.([\w-]{43})$/;
const DEFAULT_TTL_MS = 8 * 3_600_000;
const LOGIN_TTL_MS = 3_600_000;

/**
 * Browser sessions of the console and Bull Board: a cookie `<key id>.<session id>.<expiry>.<HMAC of them>`
 * signed with SESSION_SECRET. It holds no key; it names the key it was made from, so revoking that key ends it,
 * and a logout ends it on the server (remembered in `ends` until it would have expired). A form's CSRF token is an
 * HMAC of the session it belongs to; the login form's, of a nonce in a cookie of its own (no login CSRF).
 */
export class BrowserSessions {
  private readonly secret: Buffer;
  private readonly ttlMs: number;

  constructor(
    private readonly keys: ApiKeys,
    private readonly ends: SessionEnds,
    private readonly options: SessionOptions,
  ) {
    this.secret = Buffer.from(options.secret);
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  }

  /** Starts a session for `caller` (who signed in with a key) on the response. */
  start(req: Request, res: Response, caller: Caller, now = Date.now()): void {
    const signed = `${caller.keyId}.${randomBytes(16).toString('base64url')}.${now + this.ttlMs}`;
    this.setCookie(req, res, COOKIE, `${signed}.${this.sign('session', signed)}`, this.ttlMs);
  }

  /** Who the request's session acts as: undefined without one, or when it is forged, expired, logged out or its key revoked. */
  async viewer(req: Request, now = Date.now()): Promise<SessionViewer | undefined> {
    const session = this.cookie(req, COOKIE);
    const match = SESSION_VALUE.exec(session ?? '');
    if (!match || Number(match[3]) < now || !same(match[4]!, this.sign('session', `${match[1]}.${match[2]}.${match[3]}`))) return undefined;
    const [found, ended] = await Promise.all([this.keys.session(match[1]!), this.ends.ended(match[2]!)]);
    return found && !ended ? { caller: found.caller, tenantName: found.name, session: session! } : undefined;
  }

  /** Ends the request's session for every API process, and clears its cookie. */
  async end(req: Request, res: Response, now = Date.now()): Promise<void> {
    const match = SESSION_VALUE.exec(this.cookie(req, COOKIE) ?? '');
    if (match) await this.ends.end(match[2]!, Math.max(1, Number(match[3]) - now));
    res.clearCookie(this.cookieName(req, COOKIE), { path: '/' });
  }

  /** The CSRF token the forms of this session carry. */
  csrfToken(session: string): string {
    return this.sign('csrf', session);
  }

  validCsrf(session: string, token: unknown): boolean {
    return typeof token === 'string' && same(token, this.csrfToken(session));
  }

  /** The token a login form carries, tied to a nonce cookie set here (SameSite=Strict: no other site gets it). */
  loginToken(req: Request, res: Response): string {
    const nonce = randomBytes(16).toString('base64url');
    this.setCookie(req, res, LOGIN_COOKIE, nonce, LOGIN_TTL_MS);
    return this.sign('login', nonce);
  }

  validLogin(req: Request, token: unknown): boolean {
    const nonce = this.cookie(req, LOGIN_COOKIE);
    return typeof token === 'string' && nonce !== undefined && same(token, this.sign('login', nonce));
  }

  private secure(req: Request): boolean {
    return this.options.cookieSecure || req.secure;
  }

  private cookieName(req: Request, names: { secure: string; plain: string }): string {
    return this.secure(req) ? names.secure : names.plain;
  }

  private cookie(req: Request, names: { secure: string; plain: string }): string | undefined {
    return cookieValue(req.get('cookie'), this.cookieName(req, names));
  }

  private setCookie(req: Request, res: Response, names: { secure: string; plain: string }, value: string, maxAge: number): void {
    res.cookie(this.cookieName(req, names), value, { httpOnly: true, sameSite: 'strict', secure: this.secure(req), maxAge, path: '/' });
  }

  private sign(purpose: string, text: string): string {
    return createHmac('sha256', this.secret).update(`${purpose}:${text}`).digest('base64url');
  }
}

/** SESSION_SECRET; in development, where it may be unset, one derived from the admin key. */
export function sessionSecret(config: { SESSION_SECRET?: string | undefined; ADMIN_API_KEY: string }): string {
  return config.SESSION_SECRET ?? createHmac('sha256', config.ADMIN_API_KEY).update('mission-control development session secret').digest('hex');
}

/** Ended sessions in Redis, each key expiring when its session would have. */
export function redisSessionEnds(redis: Redis, prefix: string): SessionEnds {
  const key = (sessionId: string) => `${prefix}:session-ended:${sessionId}`;
  return {
    async end(sessionId, ttlMs) {
      await redis.set(key(sessionId), '1', 'PX', ttlMs);
    },
    async ended(sessionId) {
      return (await redis.exists(key(sessionId))) === 1;
    },
  };
}

function same(given: string, expected: string): boolean {
  const [a, b] = [Buffer.from(given), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The value of one cookie from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

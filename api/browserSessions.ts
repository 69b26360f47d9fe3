import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'mc_session';
/** The subject of the admin's sessions; a tenant's sessions carry its id. */
export const ADMIN_SUBJECT = 'admin';
const SUBJECT = /^(admin|[0-9a-f-]{36})$/;

/**
 * Browser sessions of the console and Bull Board: a cookie `<subject>.<expiry>.<HMAC of both>`, keyed by a secret
 * derived from the admin key, so nothing is stored and changing the admin key ends every session. It holds no
 * key. A form's CSRF token is an HMAC of the session it belongs to: a page of one session cannot post for another.
 */
export class BrowserSessions {
  private readonly secret: Buffer;

  constructor(
    adminApiKey: string,
    private readonly ttlMs = 8 * 3_600_000,
  ) {
    this.secret = createHmac('sha256', adminApiKey).update('mission-control browser session').digest();
  }

  /** A new session's cookie value for `subject` (ADMIN_SUBJECT or a tenant id). */
  issue(subject: string, now = Date.now()): { value: string; maxAgeMs: number } {
    if (!SUBJECT.test(subject)) throw new Error(`not a session subject: ${subject}`);
    const signed = `${subject}.${now + this.ttlMs}`;
    return { value: `${signed}.${this.sign('session', signed)}`, maxAgeMs: this.ttlMs };
  }

  /** Whose session a cookie value is, when it is ours and has not expired. */
  subject(value: string | undefined, now = Date.now()): string | undefined {
    const [subject, expires, signature] = (value ?? '').split('.');
    if (!subject || !expires || !signature || !SUBJECT.test(subject) || !/^\d{1,16}$/.test(expires) || Number(expires) < now) return undefined;
    return same(signature, this.sign('session', `${subject}.${expires}`)) ? subject : undefined;
  }

  /** The CSRF token the forms of this session carry. */
  csrfToken(session: string): string {
    return this.sign('csrf', session);
  }

  validCsrf(session: string, token: unknown): boolean {
    return typeof token === 'string' && same(token, this.csrfToken(session));
  }

  private sign(purpose: string, text: string): string {
    return createHmac('sha256', this.secret).update(`${purpose}:${text}`).digest('base64url');
  }
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

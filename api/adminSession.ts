import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'mc_admin';

/**
 * The admin's browser session: a cookie `<expiry>.<HMAC of it>`, keyed by a secret derived from the admin key,
 * so nothing is stored, and changing the admin key ends every session. It holds no key itself.
 */
export class AdminSessions {
  private readonly secret: Buffer;

  constructor(
    adminApiKey: string,
    private readonly ttlMs = 8 * 3_600_000,
  ) {
    this.secret = createHmac('sha256', adminApiKey).update('mission-control admin session').digest();
  }

  /** A new session's cookie value. */
  issue(now = Date.now()): { value: string; maxAgeMs: number } {
    const expires = String(now + this.ttlMs);
    return { value: `${expires}.${this.sign(expires)}`, maxAgeMs: this.ttlMs };
  }

  /** Whether a cookie value is a session that is ours and has not expired. */
  valid(value: string | undefined, now = Date.now()): boolean {
    const [expires, signature] = (value ?? '').split('.');
    if (!expires || !signature || !/^\d{1,16}$/.test(expires) || Number(expires) < now) return false;
    const expected = Buffer.from(this.sign(expires));
    const given = Buffer.from(signature);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private sign(expires: string): string {
    return createHmac('sha256', this.secret).update(expires).digest('base64url');
  }
}

/** The value of one cookie from a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

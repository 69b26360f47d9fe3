import type { Config } from './config';

// A tenant's API key as ApiKeys makes them: caught wherever one is written, though none is known in advance.
const TENANT_KEY = /mc_[A-Za-z0-9_-]{32}/g;
const REDACTED = '[redacted]';
const MIN_SECRET_LENGTH = 8;

/** The secrets of the configuration: the admin key, the session and metrics secrets, every model endpoint's key, the Postgres and Redis passwords. */
export function secretsOf(config: Config): string[] {
  const passwordOf = (url: string) => {
    const password = new URL(url).password;
    return password ? [password, decodeURIComponent(password)] : [];
  };
  const secrets = [
    config.ADMIN_API_KEY,
    ...(config.SESSION_SECRET ? [config.SESSION_SECRET] : []),
    ...(config.METRICS_TOKEN ? [config.METRICS_TOKEN] : []),
    ...Object.values(config.LLM_ENDPOINTS).flatMap((endpoint) => (endpoint.apiKey ? [endpoint.apiKey] : [])),
    ...passwordOf(config.DATABASE_URL),
    ...passwordOf(config.DATABASE_LISTEN_URL),
    ...passwordOf(config.REDIS_URL),
  ];
  // Shorter ones are left alone: replacing a word such as the development password "mission" would garble every
  // line, and a secret that short protects little anyway.
  return [...new Set(secrets)].filter((secret) => secret.length >= MIN_SECRET_LENGTH);
}

/**
 * A function that replaces every secret in a text, as it is and as JSON writes it inside a string, and every
 * tenant API key, with "[redacted]". Used on every log line (lib/logger.ts).
 */
export function redactor(secrets: readonly string[]): (text: string) => string {
  const forms = [...new Set(secrets.flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)]))]
    // The longest first, so a secret that holds another is replaced whole.
    .sort((a, b) => b.length - a.length);
  return (text) => {
    let redacted = text.replace(TENANT_KEY, REDACTED);
    for (const form of forms) if (redacted.includes(form)) redacted = redacted.replaceAll(form, REDACTED);
    return redacted;
  };
}

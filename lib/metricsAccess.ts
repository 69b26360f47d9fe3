import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Who may read /metrics, where the scrape is answered (the API's port, which tenants reach, and a worker's
 * METRICS_PORT): with METRICS_TOKEN set, a request bearing it; without, anyone in development and no one elsewhere
 * (series names, tenants' queue depth and error rates are the operator's, not the internet's).
 */
export function metricsAccess(token: string | undefined, development: boolean): (authorization: string | undefined) => 'allowed' | 'unauthorized' | 'unconfigured' {
  if (token === undefined) return () => (development ? 'allowed' : 'unconfigured');
  const expected = digest(`Bearer ${token}`);
  return (authorization) => (authorization !== undefined && timingSafeEqual(digest(authorization), expected) ? 'allowed' : 'unauthorized');
}

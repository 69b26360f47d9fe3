import { usePlatform } from './platform';

// API only, with one origin allowed to call it from a browser.
const context = usePlatform({ worker: false, env: { CORS_ORIGINS: 'https://console.example.com' } });

test('a configured origin may call the API from a browser; any other gets no CORS header', async () => {
  const preflight = (origin: string) =>
    context.platform.request('OPTIONS', '/v1/missions', undefined, {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type, idempotency-key',
    });

  const allowed = await preflight('https://console.example.com');
  expect(allowed.status).toBe(204);
  expect(allowed.headers.get('access-control-allow-origin')).toBe('https://console.example.com');
  expect(allowed.headers.get('access-control-allow-headers')).toMatch(/idempotency-key/);

  const other = await preflight('https://evil.example');
  expect(other.headers.get('access-control-allow-origin')).toBeNull();
  const answer = await context.platform.request('GET', '/v1/missions', undefined, { origin: 'https://console.example.com' });
  expect(answer.headers.get('access-control-expose-headers')).toMatch(/X-Request-Id/);
});

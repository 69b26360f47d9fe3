import { startApi, type RunningApi } from '../apps/api';
import { createMetrics } from '../lib/metrics';
import { metricsAccess } from '../lib/metricsAccess';
import { serveMetrics } from '../lib/metricsServer';
import { testLogger } from './harness';
import { usePlatform } from './platform';

// /metrics is answered on the port tenants reach: outside development only Prometheus, with METRICS_TOKEN, reads it.
const context = usePlatform({ worker: false });
const METRICS_TOKEN = 'a-metrics-token-of-this-test-0123';
const production = { NODE_ENV: 'production', SESSION_SECRET: 'a-session-secret-of-this-test-only-0123456789' };
const opened: RunningApi[] = [];
afterAll(() => Promise.all(opened.map((api) => api.close())));

async function apiWith(settings: Record<string, string>): Promise<RunningApi> {
  const api = await startApi({ ...context.env.config, ...settings }, testLogger());
  opened.push(api);
  return api;
}

const scrape = (port: number, authorization?: string) =>
  fetch(`http://127.0.0.1:${port}/metrics`, { headers: authorization ? { authorization } : {} });

test('outside development, /metrics without METRICS_TOKEN configured answers no one, not even the admin', async () => {
  const api = await apiWith(production);
  const response = await scrape(api.port, `Bearer ${context.env.config.ADMIN_API_KEY}`);
  expect(response.status).toBe(403);
  expect(await response.json()).toMatchObject({ type: expect.stringMatching(/metrics-not-configured$/) });
});

test('with METRICS_TOKEN, the API and a worker answer /metrics to that token only', async () => {
  const api = await apiWith({ ...production, METRICS_TOKEN });
  const worker = await serveMetrics(createMetrics(), 0, metricsAccess(METRICS_TOKEN, false));
  try {
    for (const port of [api.port, worker.port]) {
      expect((await scrape(port)).status).toBe(401);
      expect((await scrape(port, `Bearer ${context.env.config.ADMIN_API_KEY}`)).status).toBe(401);
      expect((await scrape(port, `Bearer ${METRICS_TOKEN}x`)).status).toBe(401);
      const allowed = await scrape(port, `Bearer ${METRICS_TOKEN}`);
      expect(allowed.status).toBe(200);
      expect(await allowed.text()).toMatch(/^# HELP mission_/m);
    }
  } finally {
    await worker.close();
  }
});

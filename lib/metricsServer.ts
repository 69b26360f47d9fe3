import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from './config';
import type { metricsAccess } from './metricsAccess';
import { renderMetrics, type Metrics } from './metrics';

/**
 * `GET /metrics` for a process without the API (a worker alone), on `port` (0 picks a free one), to those `access` allows. A port already
 * taken is a configuration error saying so, in words: most often a second worker on the host with the default.
 */
export async function serveMetrics(metrics: Metrics, port: number, access: ReturnType<typeof metricsAccess>): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') return void res.writeHead(404).end();
    const allowed = access(req.headers.authorization);
    if (allowed === 'unauthorized') return void res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
    if (allowed === 'unconfigured') return void res.writeHead(403).end('set METRICS_TOKEN to read /metrics outside development\n');
    renderMetrics(metrics).then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => server.listen(port).once('listening', resolve).once('error', reject)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EADDRINUSE') throw error;
    throw new ConfigError(
      `METRICS_PORT ${port} is taken (by another worker on this host?): give each worker its own METRICS_PORT, or 0 for a free one`,
      { cause: error },
    );
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

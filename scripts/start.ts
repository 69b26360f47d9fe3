// `npm start`: the API and one worker in this process, in the foreground, until SIGTERM or SIGINT. Both stop
// within one SHUTDOWN_TIMEOUT_MS, side by side: the API stops taking requests while the worker drains (handing
// back what has not finished when the deadline nears). One after the other, a client still sending requests
// (a scraper) would hold the API's close until the deadline and leave the worker no time.
import { startApi } from '../apps/api';
import { createMetrics } from '../lib/metrics';
import { runService } from '../lib/service';
import { startWorker } from '../apps/worker';

runService('mission-control', async (config, logger) => {
  // One registry: the API's /metrics carries the worker's metrics too.
  const metrics = createMetrics();
  const worker = await startWorker(config, logger, undefined, metrics);
  const api = await startApi(config, logger, metrics);
  return {
    async close(until = Date.now() + config.SHUTDOWN_TIMEOUT_MS) {
      const [apiClean, workerClean] = await Promise.all([api.close(until), worker.close(until)]);
      return apiClean && workerClean;
    },
  };
});

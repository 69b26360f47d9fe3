// `npm start`: the API and one worker in this process, in the foreground, until SIGTERM or SIGINT.
import { startApi } from '../api/main';
import { runService } from '../lib/service';
import { startWorker } from '../workers/main';

runService('mission-control', async (config, logger) => {
  const worker = await startWorker(config, logger);
  const api = await startApi(config, logger);
  return {
    async close() {
      await api.close();
      await worker.close();
    },
  };
});

// `npm start`: the API and one worker in this process, in the foreground, until SIGTERM or SIGINT.
import { startApi } from '../api/main';
import { loadConfig } from '../lib/config';
import { createLogger } from '../lib/logger';
import { startWorker } from '../workers/main';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL, 'mission-control');
  const worker = await startWorker(config, logger);
  const api = await startApi(config, logger);
  const stop = async () => {
    await api.close();
    await worker.close();
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void stop());
}

main().catch((error: unknown) => {
  console.error(`start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});

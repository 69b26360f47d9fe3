import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../lib/config';

/** Settings of a test's own services, for the processes it starts (the rest comes from the environment). */
export const serviceEnv = (config: Config): Record<string, string> => ({
  DATABASE_URL: config.DATABASE_URL,
  DATABASE_SCHEMA: config.DATABASE_SCHEMA,
  REDIS_URL: config.REDIS_URL,
  QUEUE_PREFIX: config.QUEUE_PREFIX,
  WORKER_CONCURRENCY: String(config.WORKER_CONCURRENCY),
  // Several workers share this host: each takes a free port for its /metrics.
  METRICS_PORT: '0',
  LOG_LEVEL: 'silent',
});

/** A worker (apps/worker.ts) in a process of its own, so a test can SIGKILL it; with `logFile`, it logs there at info level. */
export function forkWorker(config: Config, id: string, env: Record<string, string> = {}, logFile?: string): ChildProcess {
  return forkService('apps/worker.ts', { ...serviceEnv(config), WORKER_ID: id, ...env }, logFile);
}

/** The API (apps/api.ts) in a process of its own, listening on `port`. */
export function forkApi(config: Config, port: number, env: Record<string, string> = {}): ChildProcess {
  return forkService('apps/api.ts', { ...serviceEnv(config), PORT: String(port), ...env });
}

/** What `npm start` runs (the API and a worker in one process, scripts/start.ts), listening on `port`; with `logFile`, it logs there at info level. */
export function forkStart(config: Config, port: number, env: Record<string, string> = {}, logFile?: string): ChildProcess {
  return forkService('scripts/start.ts', { ...serviceEnv(config), PORT: String(port), ...env }, logFile);
}

/** With TEST_SERVICE_LOGS=<dir>, each process started here logs at info level to <dir>/<name>.log, for a post-mortem. */
function forkService(script: string, env: Record<string, string>, logFile?: string): ChildProcess {
  const logDir = process.env.TEST_SERVICE_LOGS;
  const path = logFile ?? (logDir && join(logDir, `${env.WORKER_ID ?? script.split('/')[0]}.log`));
  const output = path ? openSync(path, 'a') : 'ignore';
  const logLevel = path ? { LOG_LEVEL: 'info' } : {};
  return fork(join(__dirname, '..', script), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', output, output, 'ipc'],
    env: { ...process.env, ...env, ...logLevel },
  });
}

/** Stops a process, with SIGTERM unless told otherwise, and waits for it to exit. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

import { ConfigError, loadConfig, type Config } from './config';
import { createLogger, type Logger } from './logger';
import { redactor, secretsOf } from './secrets';
import type { Close } from './shutdown';

/** Exit codes of the entry points, documented in the README. */
export const EXIT_CONFIG = 78; // EX_CONFIG of sysexits.h: a bad setting, or a sandbox runtime or image that is not there
export const EXIT_START_FAILED = 1;
export const EXIT_UNCLEAN_SHUTDOWN = 1;
/** How long after the shutdown deadline a process that has not exited is ended anyway. */
const BACKSTOP_MS = 250;

/**
 * Runs a long-lived service from an entry point: reads the configuration (a bad one is a plain message and
 * exit 78), starts the service, and on SIGTERM or SIGINT closes it within SHUTDOWN_TIMEOUT_MS and exits.
 * Every later signal is acknowledged and changes nothing: wrappers (npm, tsx, a terminal's repeated Ctrl-C)
 * send several, and a process without a listener left would die at once.
 */
export function runService(name: string, start: (config: Config, logger: Logger) => Promise<{ close: Close }>): void {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${name}: ${error.message}`);
    process.exit(EXIT_CONFIG);
  }
  const logger = createLogger(config.LOG_LEVEL, name, redactor(secretsOf(config)));
  const service = start(config, logger).catch((error: unknown) => {
    logger.fatal({ err: error }, `${name} failed to start`);
    process.exit(error instanceof ConfigError ? EXIT_CONFIG : EXIT_START_FAILED);
  });
  let stopping: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return logger.info({ signal, first: stopping }, 'already shutting down');
    stopping = signal;
    logger.info({ signal, timeout_ms: config.SHUTDOWN_TIMEOUT_MS }, 'shutting down');
    const until = Date.now() + config.SHUTDOWN_TIMEOUT_MS;
    // A backstop in case a close hangs past its own deadline (every step is raced against it, so this is a bug).
    setTimeout(() => process.exit(EXIT_UNCLEAN_SHUTDOWN), config.SHUTDOWN_TIMEOUT_MS + BACKSTOP_MS).unref();
    void service.then((running) => running.close(until)).then((clean) => {
      logger.info({ clean }, 'exiting');
      process.exit(clean ? 0 : EXIT_UNCLEAN_SHUTDOWN);
    });
  };
  // A signal that comes while the service starts stops it once it has started.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, onSignal);
}

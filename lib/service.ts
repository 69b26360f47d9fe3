import { ConfigError, loadConfig, type Config } from './config';
import { createLogger, type Logger } from './logger';
import { redactor, secretsOf } from './secrets';

/** Exit codes of the entry points: a bad configuration is told apart from a failure to start. */
export const EXIT_CONFIG = 78; // EX_CONFIG of sysexits.h
export const EXIT_START_FAILED = 1;

/**
 * Runs a long-lived service from an entry point: reads the configuration (a bad one is a plain message and
 * exit 78), starts the service, and closes it once on SIGTERM or SIGINT.
 */
export function runService(name: string, start: (config: Config, logger: Logger) => Promise<{ close(): Promise<void> }>): void {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${name}: ${error.message}`);
    process.exit(EXIT_CONFIG);
  }
  const logger = createLogger(config.LOG_LEVEL, name, redactor(secretsOf(config)));
  start(config, logger).then(
    (service) => ['SIGTERM', 'SIGINT'].forEach((signal) => process.once(signal, () => void service.close())),
    (error: unknown) => {
      logger.fatal({ err: error }, `${name} failed to start`);
      process.exit(EXIT_START_FAILED);
    },
  );
}

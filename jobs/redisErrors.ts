import type { Logger } from '../lib/logger';
import { isInfrastructureFault } from './faults';

/**
 * A listener for a BullMQ component's 'error' events. Each reconnect attempt raises one (two dozen in a Sentinel
 * failover of a few seconds), and the component recovers by itself: Redis away or unavailable (the faults
 * jobs/faults.ts calls infrastructure) is one warning per `everyMs`, with how many more were folded into it. Any
 * other error is logged as an error, each time.
 */
export function redisErrorListener(logger: Logger, message: string, everyMs = 10_000): (error: Error) => void {
  let warnedAt = -Infinity;
  let folded = 0;
  return (error) => {
    if (!isInfrastructureFault(error)) return logger.error({ err: error }, message);
    if (Date.now() - warnedAt < everyMs) {
      folded += 1;
      return;
    }
    logger.warn({ err: error, folded }, `${message}: redis unavailable, retrying`);
    warnedAt = Date.now();
    folded = 0;
  };
}

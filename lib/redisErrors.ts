import type { Logger } from './logger';

/** What a client says while Redis cannot be reached: ioredis reconnects by itself, and BullMQ goes on once it has. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);
const UNREACHABLE_MESSAGES = [/^All sentinels are unreachable/, /^Connection is closed/, /^READONLY/];

export function isRedisUnreachable(error: Error): boolean {
  const { code } = error as NodeJS.ErrnoException;
  return (code !== undefined && UNREACHABLE_CODES.has(code)) || UNREACHABLE_MESSAGES.some((pattern) => pattern.test(error.message));
}

/**
 * A listener for a BullMQ component's 'error' events. Each reconnect attempt raises one (two dozen in a Sentinel
 * failover of a few seconds), and the component recovers by itself: that Redis cannot be reached is one warning per
 * `everyMs`, with how many more were folded into it. Any other error is logged as an error, each time.
 */
export function redisErrorListener(logger: Logger, message: string, everyMs = 10_000): (error: Error) => void {
  let warnedAt = -Infinity;
  let folded = 0;
  return (error) => {
    if (!isRedisUnreachable(error)) return logger.error({ err: error }, message);
    if (Date.now() - warnedAt < everyMs) {
      folded += 1;
      return;
    }
    logger.warn({ err: error, folded }, `${message}: redis unreachable, reconnecting`);
    warnedAt = Date.now();
    folded = 0;
  };
}

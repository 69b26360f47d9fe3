import type { Logger } from './logger';

/** One step of a shutdown; `until` is the deadline (epoch ms) the whole sequence shares, for steps that plan. */
export type ShutdownStep = readonly [name: string, close: (until: number) => Promise<unknown>];

/** A service's close: stops it by `until` (default: now plus its configured timeout); resolves true when clean. */
export type Close = (until?: number) => Promise<boolean>;

/**
 * Runs the shutdown steps in order, each in its own try/catch so one failure does not skip the rest, logs each,
 * and gives up at the deadline. Returns once; later calls return the same promise.
 */
export function shutdownSequence(steps: readonly ShutdownStep[], timeoutMs: number, logger: Logger): Close {
  let running: Promise<boolean> | undefined;
  return (until = Date.now() + timeoutMs) => {
    running ??= (async () => {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<false>((resolve) => {
        timer = setTimeout(() => {
          logger.error({ deadline_ms: until - started }, 'shutdown deadline passed; giving up on the remaining steps');
          resolve(false);
        }, Math.max(0, until - started));
        timer.unref();
      });
      const ordered = (async () => {
        let clean = true;
        for (const [name, close] of steps) {
          try {
            await close(until);
            logger.debug({ step: name, after_ms: Date.now() - started }, 'shutdown step done');
          } catch (error) {
            clean = false;
            logger.error({ err: error, step: name }, 'shutdown step failed');
          }
        }
        return clean;
      })();
      const clean = await Promise.race([ordered, deadline]);
      clearTimeout(timer);
      return clean;
    })();
    return running;
  };
}

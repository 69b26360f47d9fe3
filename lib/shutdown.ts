import type { Logger } from './logger';

export type ShutdownStep = readonly [name: string, close: () => Promise<unknown>];

/**
 * Runs the shutdown steps in order, each in its own try/catch so one failure does not skip the rest,
 * and gives up after `deadlineMs`. Returns once; later calls return the same promise.
 */
export function shutdownSequence(steps: readonly ShutdownStep[], deadlineMs: number, logger: Logger): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => {
    running ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.error({ deadline_ms: deadlineMs }, 'shutdown deadline passed; giving up on the remaining steps');
          resolve();
        }, deadlineMs);
        timer.unref();
      });
      const ordered = (async () => {
        for (const [name, close] of steps) {
          try {
            await close();
          } catch (error) {
            logger.error({ err: error, step: name }, 'shutdown step failed');
          }
        }
      })();
      await Promise.race([ordered, deadline]);
      clearTimeout(timer);
    })();
    return running;
  };
}

import type { RequestHandler } from 'express';
import { HttpProblem } from './problem';

/**
 * At most `slots` uploads read at once by this process: each holds its body in memory while it is checked, so a
 * tenant sending many large ones at a time gets a 503 with Retry-After rather than the process's memory.
 */
export function uploadSlots(slots: number): RequestHandler {
  let busy = 0;
  return (_req, res, next) => {
    if (busy >= slots) {
      res.set('Retry-After', '1');
      return next(new HttpProblem(503, 'uploads-busy', 'Too many uploads at once.', `this API process reads at most ${slots} uploads at a time (FILE_UPLOADS_AT_ONCE); try again in a second`));
    }
    busy++;
    let released = false;
    const release = () => {
      if (!released) busy--;
      released = true;
    };
    res.once('finish', release);
    res.once('close', release);
    next();
  };
}

import { SingleBar } from 'cli-progress';

/** Missions of the submitted batches by status, summed over the batches. */
export type Counts = Record<'queued' | 'running' | 'waiting_approval' | 'succeeded' | 'failed' | 'cancelled' | 'timed_out', number>;

export const finishedOf = (counts: Counts) => counts.succeeded + counts.failed + counts.cancelled + counts.timed_out;

/** How progress is shown while waiting: a bar redrawn in place on a terminal, plain lines elsewhere (CI, pipes). */
export interface ProgressReporter {
  update(counts: Counts): void;
  stop(): void;
}

/** Missions finished per second since the wait began (those finished before it, as on a resubmission, do not count). */
function rateMeter(): (done: number) => number {
  const started = Date.now();
  let before: number | undefined;
  return (done) => {
    before ??= done;
    return (done - before) / Math.max((Date.now() - started) / 1000, 0.001);
  };
}

/** Picks the bar for a terminal and lines for anything else; both go to stderr, so stdout keeps only results. */
export function progressReporter(total: number, stream: NodeJS.WriteStream, intervalMs: number): ProgressReporter {
  return stream.isTTY ? barReporter(total, stream) : lineReporter(total, stream, intervalMs);
}

function barReporter(total: number, stream: NodeJS.WriteStream): ProgressReporter {
  const rate = rateMeter();
  const bar = new SingleBar({
    stream,
    format: '{bar} {percentage}% | {value}/{total} done | succeeded {succeeded} failed {failed} running {running} queued {queued} | {rate}/s | ETA {eta_formatted}',
    hideCursor: true,
    etaBuffer: 50,
  });
  const payload = (counts: Counts) => ({ ...counts, failed: counts.failed + counts.timed_out, rate: rate(finishedOf(counts)).toFixed(1) });
  bar.start(total, 0, payload({ queued: total, running: 0, waiting_approval: 0, succeeded: 0, failed: 0, cancelled: 0, timed_out: 0 }));
  return {
    update: (counts) => bar.update(finishedOf(counts), payload(counts)),
    stop: () => bar.stop(),
  };
}

function lineReporter(total: number, stream: NodeJS.WriteStream, intervalMs: number): ProgressReporter {
  const rate = rateMeter();
  let last = 0;
  let latest: Counts | undefined;
  let written: Counts | undefined;
  const write = (counts: Counts) => {
    written = counts;
    const done = finishedOf(counts);
    const speed = rate(done);
    const eta = speed > 0 && done < total ? `, about ${Math.ceil((total - done) / speed)} s left` : '';
    stream.write(
      `progress: ${done}/${total} done (succeeded ${counts.succeeded}, failed ${counts.failed + counts.timed_out}, cancelled ${counts.cancelled}; ` +
        `running ${counts.running}, waiting ${counts.queued + counts.waiting_approval}), ${speed.toFixed(1)}/s${eta}\n`,
    );
    last = Date.now();
  };
  return {
    update(counts) {
      latest = counts;
      if (Date.now() - last >= intervalMs) write(counts);
    },
    stop() {
      if (latest && latest !== written) write(latest);
    },
  };
}

import { readFileSync } from 'node:fs';

/** The host's CPU time so far (every core): busy and total, in clock ticks of 1/100 s (/proc/stat's first line). */
export function hostCpuTimes(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, ticks) => sum + ticks, 0);
  // idle and iowait are the time no process wanted a core.
  return { busy: total - fields[3]! - fields[4]!, total };
}

/** How busy the whole host's CPU was since the last call (0-1): every process on it, sandboxes included. */
export function hostCpuMeter(): () => number {
  let last = hostCpuTimes();
  return () => {
    const now = hostCpuTimes();
    const busy = now.total > last.total ? (now.busy - last.busy) / (now.total - last.total) : 0;
    last = now;
    return busy;
  };
}

import { readFileSync } from 'node:fs';

/** Memory the whole host uses now (MemTotal - MemAvailable), in bytes. */
export function hostMemoryUsed(): number {
  const info = readFileSync('/proc/meminfo', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(info)![1]) * 1024;
  return field('MemTotal') - field('MemAvailable');
}

/** Threads (every task the kernel schedules) on the host now: the total of /proc/loadavg's fourth field. */
export function hostThreads(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3]!.split('/')[1]);
}

/** Samples `read` every `everyMs` and keeps the highest value of each figure until stopped. */
export function peaks<T extends Record<string, number>>(read: () => T | Promise<T>, everyMs: number): { stop(): T } {
  let highest: T | undefined;
  const sample = async () => {
    const now = await read();
    highest = highest ? (Object.fromEntries(Object.entries(now).map(([key, value]) => [key, Math.max(value, highest![key]!)])) as T) : now;
  };
  void sample();
  const timer = setInterval(() => void sample().catch(() => undefined), everyMs);
  return {
    stop() {
      clearInterval(timer);
      return highest!;
    },
  };
}

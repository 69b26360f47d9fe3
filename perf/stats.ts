import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { hostCpuTimes } from '../lib/hostCpu';

export interface Percentiles {
  p50: number;
  p95: number;
}

/** The q-quantile of a list of milliseconds, rounded to 0.01 ms. */
export function quantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 100) / 100;
}

/** p50 and p95 of a list of milliseconds. */
export function percentiles(samples: readonly number[]): Percentiles {
  return { p50: quantile(samples, 0.5), p95: quantile(samples, 0.95) };
}

/** CPU time the whole host has spent busy (every core, every process: dockerd, runsc, Postgres, us), in seconds. */
export function hostCpuSeconds(): number {
  return hostCpuTimes().busy / 100; // USER_HZ is 100 on Linux
}

export async function timed<T>(work: () => Promise<T>): Promise<[ms: number, value: T]> {
  const started = performance.now();
  const value = await work();
  return [performance.now() - started, value];
}

/** A target: a bound on the figure itself, or on its ratio to the same-run baseline. */
export interface Target {
  on: 'value' | 'ratio';
  atLeast?: number;
  atMost?: number;
}

/** One headline figure of a benchmark, as `npm run perf -- all` tabulates it. */
export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number };
  target?: Target;
}

/** Writes perf/results/<name>.json with the machine it ran on and its headline figures, and prints it. */
export function writeResult(name: string, result: object, figures: readonly Figure[]): void {
  const document = {
    benchmark: name,
    measured_at: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version },
    figures,
    ...result,
  };
  const text = `${JSON.stringify(document, null, 2)}\n`;
  writeFileSync(join(__dirname, 'results', `${name}.json`), text);
  console.log(text);
}

import { readFileSync } from 'node:fs';

/**
 * What one idle gVisor sandbox costs the host, measured here (perf/results/agents.json): about 18 MB of memory and
 * 49 threads (runsc's sentry and gofer, containerd's shim). Taken with a margin.
 */
const THREADS_PER_SANDBOX = 60;
const BYTES_PER_SANDBOX = 24 * 2 ** 20;
/** The share of the host's free threads and memory a worker's sandboxes may take. */
const SHARE = 0.8;

export interface HostCapacity {
  /** The most sandboxes the host can hold now, by threads and by memory, and which binds. */
  sandboxes: number;
  bound: 'threads' | 'memory';
  threadsFree: number;
  memoryFreeBytes: number;
}

const read = (path: string) => readFileSync(path, 'utf8');

/**
 * The sandboxes this host has room for beside what runs on it already: every thread is a task the kernel counts
 * against kernel.pid_max (32,768 by default: about 600 sandboxes) and kernel.threads-max, and every sandbox takes
 * memory. Past them a start fails with EAGAIN, and so does every other process's fork on the host.
 */
export function hostCapacity(): HostCapacity {
  const taskLimit = Math.min(Number(read('/proc/sys/kernel/pid_max')), Number(read('/proc/sys/kernel/threads-max')));
  const tasks = Number(read('/proc/loadavg').split(' ')[3]!.split('/')[1]);
  const available = Number(/^MemAvailable:\s+(\d+) kB/m.exec(read('/proc/meminfo'))![1]) * 1024;
  const threadsFree = Math.max(0, taskLimit - tasks);
  const byThreads = Math.floor((threadsFree * SHARE) / THREADS_PER_SANDBOX);
  const byMemory = Math.floor((available * SHARE) / BYTES_PER_SANDBOX);
  return { sandboxes: Math.max(1, Math.min(byThreads, byMemory)), bound: byThreads <= byMemory ? 'threads' : 'memory', threadsFree, memoryFreeBytes: available };
}

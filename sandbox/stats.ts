import type Docker from 'dockerode';
import type { Sandbox } from './sandbox';

export interface SandboxUsage {
  /** CPU used since the previous sample, in percent of one core. */
  cpu_percent: number;
  memory_bytes: number;
  memory_limit_bytes: number;
  pids: number;
  collected_at: Date;
}

interface Sample {
  usage: SandboxUsage;
  cpuTotalNs: number;
  at: number;
}

/**
 * Samples CPU and memory of every live sandbox in the background and serves the latest sample from a cache:
 * no request and no step ever waits on Docker's stats endpoint.
 */
export class SandboxStatsCollector {
  private readonly samples = new Map<string, Sample>();
  private timer: NodeJS.Timeout | undefined;
  private collecting: Promise<void> | undefined;
  /** Ends the requests of a round under way when the collector stops: a slow Docker must not hold a shutdown. */
  private readonly stopped = new AbortController();

  constructor(
    private readonly docker: Docker,
    private readonly sandboxes: () => readonly Sandbox[],
    private readonly intervalMs = 5_000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.collect(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops sampling; a round under way is cut off. */
  stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopped.abort();
    return this.collecting ?? Promise.resolve();
  }

  /** CPU (in cores) and memory of all the live sandboxes together, from the latest samples. */
  totals(): { cpuCores: number; memoryBytes: number } {
    let cpuCores = 0;
    let memoryBytes = 0;
    for (const { usage } of this.samples.values()) {
      cpuCores += usage.cpu_percent / 100;
      memoryBytes += usage.memory_bytes;
    }
    return { cpuCores, memoryBytes };
  }

  get(sandboxId: string): SandboxUsage | undefined {
    return this.samples.get(sandboxId)?.usage;
  }

  /** One sampling round over the live sandboxes; samples of sandboxes that are gone are dropped. */
  collect(): Promise<void> {
    if (this.stopped.signal.aborted) return Promise.resolve();
    this.collecting ??= (async () => {
      const live = this.sandboxes().filter((sandbox) => sandbox.alive);
      const ids = new Set(live.map((sandbox) => sandbox.id));
      for (const id of this.samples.keys()) if (!ids.has(id)) this.samples.delete(id);
      await Promise.allSettled(live.map((sandbox) => this.sample(sandbox.id)));
    })().finally(() => (this.collecting = undefined));
    return this.collecting;
  }

  private async sample(id: string): Promise<void> {
    // one-shot: Docker answers at once instead of waiting a second for a second reading.
    const options = { stream: false, 'one-shot': true, abortSignal: this.stopped.signal } as { stream: false; abortSignal: AbortSignal };
    const stats = await this.docker.getContainer(id).stats(options);
    const cpuTotalNs = stats.cpu_stats.cpu_usage.total_usage;
    const at = performance.now();
    const previous = this.samples.get(id);
    const cpuPercent = previous ? ((cpuTotalNs - previous.cpuTotalNs) / ((at - previous.at) * 1e6)) * 100 : 0;
    this.samples.set(id, {
      cpuTotalNs,
      at,
      usage: {
        cpu_percent: Math.max(0, Math.round(cpuPercent * 10) / 10),
        memory_bytes: stats.memory_stats.usage ?? 0,
        memory_limit_bytes: stats.memory_stats.limit ?? 0,
        pids: stats.pids_stats?.current ?? 0,
        collected_at: new Date(),
      },
    });
  }
}

import type Docker from 'dockerode';

/**
 * Docker's `oom` events for sandboxes. Docker 20.10 sets State.OOMKilled only when the OOM event arrives before
 * the exit, and under load it often arrives after; this keeps them, so a sandbox that ran out of memory is never
 * reported as merely killed.
 */
export class OomWatch {
  private readonly killed = new Set<string>();
  private events: NodeJS.ReadableStream | undefined;
  private starting: Promise<void> | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly label: string,
  ) {}

  start(): Promise<void> {
    this.starting ??= (async () => {
      const events = await this.docker.getEvents({ filters: { type: ['container'], event: ['oom'], label: [this.label] } });
      let buffered = '';
      events.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) if (line.trim()) this.killed.add((JSON.parse(line) as { id: string }).id);
      });
      events.on('error', () => undefined);
      this.events = events;
    })();
    return this.starting;
  }

  has(containerId: string): boolean {
    return this.killed.has(containerId);
  }

  forget(containerId: string): void {
    this.killed.delete(containerId);
  }

  close(): void {
    (this.events as { destroy?: () => void } | undefined)?.destroy?.();
  }
}

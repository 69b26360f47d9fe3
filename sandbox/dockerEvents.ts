import type Docker from 'dockerode';

type Seen = 'oom' | 'kill';

/**
 * Docker's `oom` and `kill` events for this worker's sandboxes, remembered per container, so a sandbox that
 * stops can be explained:
 * - `oom`: Docker 20.10 sets State.OOMKilled only when the OOM event arrives before the exit, and under load it
 *   often arrives after; a sandbox that ran out of memory must never be reported as merely killed.
 * - `kill`: a signal sent through Docker (the daemon stopping its containers as it restarts, an operator's
 *   `docker kill`) comes from outside the mission. A mission killing its own main process sends no such event.
 * The stream ends when the daemon does; start() opens it again (the driver calls it before each sandbox start).
 */
export class DockerEvents {
  private readonly seen = new Map<string, Set<Seen>>();
  private events: NodeJS.ReadableStream | undefined;
  private starting: Promise<void> | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly label: string,
  ) {}

  start(): Promise<void> {
    this.starting ??= this.open().catch((error: unknown) => {
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  oomKilled(containerId: string): boolean {
    return this.seen.get(containerId)?.has('oom') ?? false;
  }

  killedFromOutside(containerId: string): boolean {
    return this.seen.get(containerId)?.has('kill') ?? false;
  }

  forget(containerId: string): void {
    this.seen.delete(containerId);
  }

  close(): void {
    (this.events as { destroy?: () => void } | undefined)?.destroy?.();
  }

  private async open(): Promise<void> {
    const events = await this.docker.getEvents({ filters: { type: ['container'], event: ['oom', 'kill', 'destroy'], label: [this.label] } });
    let buffered = '';
    events.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) if (line.trim()) this.remember(JSON.parse(line) as { id: string; Action: string });
    });
    const reopenNextTime = () => {
      if (this.events === events) this.starting = undefined;
    };
    events.on('error', reopenNextTime);
    events.on('end', reopenNextTime);
    events.on('close', reopenNextTime);
    this.events = events;
  }

  private remember(event: { id: string; Action: string }): void {
    // Removing a sandbox sends a kill of its own: what is known of it goes once it is removed.
    if (event.Action === 'destroy') return void this.seen.delete(event.id);
    if (event.Action !== 'oom' && event.Action !== 'kill') return;
    const seen = this.seen.get(event.id) ?? new Set<Seen>();
    seen.add(event.Action);
    this.seen.set(event.id, seen);
  }
}

import type Docker from 'dockerode';
import { FLEET_LABEL, OWNER_LABEL } from './driver';

/**
 * How long a sandbox of this worker that it does not hold may stay, by state: one being started is `created`
 * for a moment (create, attach, start) and `running` until its channel answers (the driver gives up at 30 s);
 * one that stopped (Docker restarted and stopped it) is nobody's.
 */
const UNHELD_FOR_MS: Record<string, number> = { created: 10_000, running: 60_000 };

/**
 * Removes sandboxes nobody will remove otherwise, so none pile up:
 * - those of workers that are gone (crashed, killed, their host rebooted): their heartbeat (the caller's to
 *   define; workers/heartbeat.ts keeps it in Redis) must be missing on two passes `deadForMs` apart, so a Redis
 *   that restarted empty a moment ago does not make live workers look dead;
 * - this worker's own from an earlier life (a worker restarted with the same WORKER_ID, as in a StatefulSet);
 * - this worker's own that it does not hold: stopped (Docker restarted and stopped them), or left behind by a
 *   start or a removal that failed while Docker was away.
 */
export class SandboxReaper {
  private readonly startedAt = Date.now();
  /** Owners whose heartbeat was missing, and since when. */
  private readonly missingSince = new Map<string, number>();

  constructor(
    private readonly docker: Docker,
    private readonly fleet: string,
    private readonly self: string,
    private readonly isOwnerAlive: (owner: string) => Promise<boolean>,
    /** Whether this process still holds the sandbox (started it and has not destroyed it). */
    private readonly holds: (containerId: string) => boolean,
    private readonly deadForMs: number,
  ) {}

  /** Removes this fleet's orphans on this Docker host and returns their container ids. */
  async reap(): Promise<string[]> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [`${FLEET_LABEL}=${this.fleet}`] } });
    const ownerOf = (container: Docker.ContainerInfo) => container.Labels[OWNER_LABEL] ?? '';
    const others = new Set(containers.map(ownerOf).filter((owner) => owner !== this.self));
    const gone = new Set<string>();
    for (const owner of others) if (await this.isGone(owner)) gone.add(owner);
    for (const owner of this.missingSince.keys()) if (!others.has(owner)) this.missingSince.delete(owner);
    const removed: string[] = [];
    for (const container of containers) {
      const owner = ownerOf(container);
      if (owner === this.self ? !this.isOwnLeftover(container) : !gone.has(owner)) continue;
      await this.docker
        .getContainer(container.Id)
        .remove({ force: true })
        .then(
          () => removed.push(container.Id),
          (error: { statusCode?: number }) => {
            // 404: gone already; 409: a removal (another reaper's, the owner's) is under way.
            if (error.statusCode !== 404 && error.statusCode !== 409) throw error;
          },
        );
    }
    return removed;
  }

  private isOwnLeftover(container: Docker.ContainerInfo): boolean {
    if (this.holds(container.Id)) return false;
    // Docker gives creation times in whole seconds: a second's margin keeps this life's sandboxes.
    const createdAt = container.Created * 1000;
    if (createdAt < this.startedAt - 1_000) return true;
    return Date.now() - createdAt >= (UNHELD_FOR_MS[container.State] ?? 0);
  }

  private async isGone(owner: string): Promise<boolean> {
    if (owner !== '' && (await this.isOwnerAlive(owner))) {
      this.missingSince.delete(owner);
      return false;
    }
    const since = this.missingSince.get(owner) ?? Date.now();
    this.missingSince.set(owner, since);
    return Date.now() - since >= this.deadForMs;
  }
}

import type Docker from 'dockerode';
import { FLEET_LABEL, OWNER_LABEL } from './driver';

/** A sandbox of this worker that it no longer holds is removed once it is this old (starts take seconds). */
const LEAKED_AFTER_MS = 60_000;

/**
 * Removes sandboxes nobody will remove otherwise, so none pile up:
 * - those of workers that are gone (crashed, killed, their host rebooted); liveness is the caller's to define
 *   (workers/heartbeat.ts keeps it in Redis);
 * - this worker's own from an earlier life (a worker restarted with the same WORKER_ID, as in a StatefulSet);
 * - this worker's own that it no longer holds (their removal failed while Docker was away).
 */
export class SandboxReaper {
  private readonly startedAt = Date.now();

  constructor(
    private readonly docker: Docker,
    private readonly fleet: string,
    private readonly self: string,
    private readonly isOwnerAlive: (owner: string) => Promise<boolean>,
    /** Whether this process still holds the sandbox (started it and has not destroyed it). */
    private readonly holds: (containerId: string) => boolean,
  ) {}

  /** Removes this fleet's orphans on this Docker host and returns their container ids. */
  async reap(): Promise<string[]> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [`${FLEET_LABEL}=${this.fleet}`] } });
    const owners = new Map<string, boolean>();
    const removed: string[] = [];
    for (const container of containers) {
      const owner = container.Labels[OWNER_LABEL] ?? '';
      if (owner === this.self) {
        if (this.holds(container.Id)) continue;
        // Docker gives creation times in whole seconds: a second's margin keeps this life's sandboxes.
        const createdAt = container.Created * 1000;
        if (createdAt >= this.startedAt - 1_000 && Date.now() - createdAt < LEAKED_AFTER_MS) continue;
      } else {
        if (!owners.has(owner)) owners.set(owner, owner !== '' && (await this.isOwnerAlive(owner)));
        if (owners.get(owner)) continue;
      }
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
}

import type Docker from 'dockerode';
import { FLEET_LABEL, OWNER_LABEL } from './driver';

/**
 * Removes sandboxes whose owning worker is gone (crashed, killed, its host rebooted), so a dead worker's
 * containers never pile up. Liveness is the caller's to define (workers/heartbeat.ts keeps it in Redis).
 */
export class SandboxReaper {
  constructor(
    private readonly docker: Docker,
    private readonly fleet: string,
    private readonly self: string,
    private readonly isOwnerAlive: (owner: string) => Promise<boolean>,
  ) {}

  /** Removes this fleet's orphans on this Docker host and returns their container ids. */
  async reap(): Promise<string[]> {
    const containers = await this.docker.listContainers({ all: true, filters: { label: [`${FLEET_LABEL}=${this.fleet}`] } });
    const owners = new Map<string, boolean>();
    const removed: string[] = [];
    for (const container of containers) {
      const owner = container.Labels[OWNER_LABEL] ?? '';
      if (owner === this.self) continue;
      if (!owners.has(owner)) owners.set(owner, owner !== '' && (await this.isOwnerAlive(owner)));
      if (owners.get(owner)) continue;
      await this.docker
        .getContainer(container.Id)
        .remove({ force: true })
        .then(
          () => removed.push(container.Id),
          (error: { statusCode?: number }) => {
            if (error.statusCode !== 404) throw error;
          },
        );
    }
    return removed;
  }
}

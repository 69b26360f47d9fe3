import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { waitFor } from '../test/waitFor';
import { claimHost } from './hostClaim';

/**
 * A simulated machine of the fleet: a dockerd of its own (socket, data root, exec root, pid file and cgroup parent
 * under its name), gVisor registered as on the real hosts, and the sandbox image loaded from the machine's own
 * daemon. Losing it kills its daemon, its containerd and shims, and every process of its sandboxes at once.
 */
export class DockerHost {
  private constructor(
    readonly name: string,
    private readonly run: string,
    private readonly data: string,
  ) {}

  static async start(name: string, image: string): Promise<DockerHost> {
    const host = new DockerHost(name, `/run/mc-fleet/${name}`, `/var/lib/mc-fleet/${name}`);
    mkdirSync(host.run, { recursive: true });
    claimHost(host.run, name);
    // A daemon a fleet that died left running is lost first, so this fleet starts its host afresh.
    await host.lose();
    await host.startDaemon();
    const loaded = await host.docker().getImage(image).inspect().then(() => true, () => false);
    if (!loaded) execFileSync('sh', ['-c', `docker save '${image}' | docker -H '${host.socketUrl}' load -q`], { stdio: 'ignore' });
    return host;
  }

  /** For the workers of this host: DOCKER_HOST. */
  get socketUrl(): string {
    return `unix://${join(this.run, 'docker.sock')}`;
  }

  docker(): Docker {
    return new Docker({ socketPath: join(this.run, 'docker.sock') });
  }

  /**
   * The host is gone at once: its sandboxes' processes, its shims, containerd and dockerd, all SIGKILLed, again
   * until none is left (a container being started when the kill came can spawn one more of them).
   */
  async lose(): Promise<void> {
    await waitFor(() => {
      const alive = [...this.sandboxProcesses(), ...this.daemonProcesses()];
      for (const pid of alive) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      return alive.length === 0;
    }, 30_000, `host ${this.name}'s processes gone`);
  }

  /** The host comes back: its daemon starts again over what the loss left. */
  async restore(): Promise<void> {
    await this.startDaemon();
  }

  /** Stops the daemon (its containers with it) and removes the host's directories. */
  async destroy(): Promise<void> {
    const containers = await this.docker().listContainers({ all: true }).catch(() => []);
    await Promise.all(containers.map((container) => this.docker().getContainer(container.Id).remove({ force: true }).catch(() => undefined)));
    await this.lose();
    rmSync(this.run, { recursive: true, force: true });
  }

  private async startDaemon(): Promise<void> {
    mkdirSync(this.run, { recursive: true });
    mkdirSync(this.data, { recursive: true });
    const config = join(this.run, 'dockerd.json');
    writeFileSync(config, `${JSON.stringify({
      bridge: 'none',
      iptables: false,
      'ip-masq': false,
      'cgroup-parent': this.cgroupParent,
      runtimes: { runsc: { path: execFileSync('sh', ['-c', 'command -v runsc']).toString().trim(), runtimeArgs: ['--network=none'] } },
    })}\n`);
    for (const stale of ['docker.pid', 'exec/containerd/containerd.pid']) rmSync(join(this.run, stale), { force: true });
    spawn('dockerd', [
      '--config-file', config,
      '--host', this.socketUrl,
      '--data-root', this.data,
      '--exec-root', join(this.run, 'exec'),
      '--pidfile', join(this.run, 'docker.pid'),
    ], { stdio: ['ignore', 'ignore', 'ignore'], detached: true }).unref();
    await waitFor(() => this.docker().ping().then(() => true, () => false), 60_000, `host ${this.name}'s dockerd`);
  }

  private get cgroupParent(): string {
    return `mc-fleet-${this.name}`;
  }

  /** Every process in the cgroups of this host's containers (cgroup v1's pids hierarchy, as on these machines). */
  private sandboxProcesses(): number[] {
    const root = join('/sys/fs/cgroup/pids', this.cgroupParent);
    if (!existsSync(root)) return [];
    const pids: number[] = [];
    const walk = (dir: string) => {
      try {
        pids.push(...readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
        for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
      } catch {
        // a container's cgroup goes as its container stops
      }
    };
    walk(root);
    return pids;
  }

  /** dockerd, containerd and the shims of this host: every process whose command line names its directories. */
  private daemonProcesses(): number[] {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(this.run);
        } catch {
          return false;
        }
      })
      .map(Number);
  }
}

import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { StepChannel } from './channel';
import { SandboxGoneError, SandboxStartError } from './errors';
import { DockerEvents } from './dockerEvents';
import { Sandbox } from './sandbox';

export const SANDBOX_LABEL = 'mission-control.sandbox';
export const OWNER_LABEL = 'mission-control.owner';
export const FLEET_LABEL = 'mission-control.fleet';

export interface SandboxLimits {
  /** Memory in bytes; swap is set to the same value, so there is none. Default 512 MiB. */
  memoryBytes: number;
  /** CPU quota in cores. Default 1. */
  cpus: number;
  /**
   * Host-side process limit of the whole sandbox. Under gVisor's ptrace platform each process inside costs
   * about 8 host processes and threads, and gVisor itself about 45: the default 1024 allows ~120 inside.
   */
  pids: number;
  /** Size of the writable /workspace tmpfs in bytes. Default 64 MiB. */
  workspaceBytes: number;
  /** Size of the writable /tmp tmpfs in bytes. Default 16 MiB. */
  tmpBytes: number;
}

/** An environment's image, and the limits it sets apart from the driver's own. */
export interface SandboxImage {
  image: string;
  limits?: Partial<SandboxLimits>;
}

export interface SandboxDriverOptions {
  /** The base environment's image. */
  image: string;
  /** Other environments by name (lib/environments.ts): their images and limits. */
  environments?: Readonly<Record<string, SandboxImage>>;
  /** Docker runtime name: `runsc` (gVisor) or a Kata runtime. `runc` is refused unless `allowRunc`. */
  runtime: string;
  /** Labels every sandbox, so a reaper can find the ones whose owner is gone. */
  owner: string;
  /** The deployment the owner belongs to (workers sharing one queue); reapers only judge their own fleet. */
  fleet: string;
  limits?: Partial<SandboxLimits>;
  /** Development only: runc shares the host kernel and is no isolation against hostile code. */
  allowRunc?: boolean;
  /** How long a new sandbox may take to answer on its step channel. Default 30 s. */
  startTimeoutMs?: number;
}

export const DEFAULT_LIMITS: SandboxLimits = {
  memoryBytes: 512 * 1024 * 1024,
  cpus: 1,
  pids: 1024,
  workspaceBytes: 64 * 1024 * 1024,
  tmpBytes: 16 * 1024 * 1024,
};

/** Creates hardened sandboxes: no network, read-only root, tmpfs scratch, no capabilities, bounded resources. */
export class SandboxDriver {
  private readonly limits: SandboxLimits;
  private readonly startTimeoutMs: number;
  private readonly events: DockerEvents;

  constructor(
    private readonly docker: Docker,
    private readonly options: SandboxDriverOptions,
  ) {
    if (options.runtime === 'runc' && !options.allowRunc) {
      throw new SandboxStartError('the runc runtime gives no isolation; it needs the explicit development flag');
    }
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.startTimeoutMs = options.startTimeoutMs ?? 30_000;
    this.events = new DockerEvents(docker, `${OWNER_LABEL}=${options.owner}`);
  }

  /** Starts a sandbox of `environment` (the base one when not given). */
  async start(environment?: string): Promise<Sandbox> {
    let container: Docker.Container | undefined;
    try {
      await this.events.start();
      const image = this.imageOf(environment);
      container = await this.docker.createContainer(this.containerSpec(image.image, { ...this.limits, ...image.limits }));
      // With hijack, the attach stream is the raw socket: a Duplex, though typed as a ReadWriteStream.
      const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as unknown as Duplex;
      const channel = new StepChannel(stream, (s, out, err) => this.docker.modem.demuxStream(s, out, err));
      await container.start();
      await channel.ready(this.startTimeoutMs);
      return new Sandbox(container, channel, this.events, environment);
    } catch (error) {
      if (container) await container.remove({ force: true }).catch(() => undefined);
      const reason = error instanceof SandboxGoneError ? error.message : String(error);
      throw new SandboxStartError(reason, { cause: error });
    }
  }

  /**
   * Why no sandbox can start on this Docker at all: the runtime is not registered, or the image is not there.
   * Undefined when both are. A worker checks this before it takes any mission.
   */
  async setupProblem(): Promise<string | undefined> {
    const runtimes = Object.keys((await this.docker.info()).Runtimes ?? {});
    if (!runtimes.includes(this.options.runtime)) {
      return `SANDBOX_RUNTIME ${this.options.runtime} is not a runtime of this Docker daemon (it has ${runtimes.join(', ')})`;
    }
    return (await this.hasImage(this.options.image)) ? undefined : `SANDBOX_IMAGE ${this.options.image} is not in this Docker daemon (the bootstrap builds the default one)`;
  }

  /** The environments (other than the base one) whose images this Docker daemon has: the ones this worker can run. */
  async availableEnvironments(): Promise<string[]> {
    const named = Object.entries(this.options.environments ?? {});
    const present = await Promise.all(named.map(([, image]) => this.hasImage(image.image)));
    return named.filter((_, index) => present[index]).map(([name]) => name);
  }

  private async hasImage(image: string): Promise<boolean> {
    const found = await this.docker
      .getImage(image)
      .inspect()
      .catch((error: { statusCode?: number }) => {
        if (error.statusCode === 404) return undefined;
        throw error;
      });
    return found !== undefined;
  }

  private imageOf(environment: string | undefined): SandboxImage {
    if (environment === undefined) return { image: this.options.image };
    const image = this.options.environments?.[environment];
    if (!image) throw new SandboxStartError(`no environment ${environment} is declared on this worker`);
    return image;
  }

  /** Stops watching Docker's events. Sandboxes already started are their owners' to destroy. */
  close(): void {
    this.events.close();
  }

  private containerSpec(image: string, limits: SandboxLimits): Docker.ContainerCreateOptions {
    return {
      Image: image,
      Cmd: ['/usr/local/bin/mission-channel'],
      User: '1000:1000',
      WorkingDir: '/workspace',
      Env: ['HOME=/workspace', 'PATH=/usr/local/bin:/usr/bin:/bin', 'LANG=C.UTF-8'],
      Labels: { [SANDBOX_LABEL]: 'true', [OWNER_LABEL]: this.options.owner, [FLEET_LABEL]: this.options.fleet },
      OpenStdin: true,
      StdinOnce: false,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      NetworkDisabled: true,
      HostConfig: {
        Runtime: this.options.runtime,
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        Tmpfs: {
          // exec: a task's scripts, tests and tools run from its workspace (Docker's tmpfs is noexec unless told);
          // nothing there runs with more than the mission's own rights (nosuid, no capabilities, gVisor).
          '/workspace': `rw,exec,nosuid,nodev,size=${limits.workspaceBytes},uid=1000,gid=1000,mode=0700`,
          '/tmp': `rw,nosuid,nodev,size=${limits.tmpBytes},mode=1777`,
        },
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        PidsLimit: limits.pids,
        Memory: limits.memoryBytes,
        MemorySwap: limits.memoryBytes,
        NanoCpus: Math.round(limits.cpus * 1e9),
        Privileged: false,
        // The channel's stdout is read through the attach stream; a json-file log would keep a copy on the host's
        // disk of everything a mission writes to it, without bound.
        LogConfig: { Type: 'none', Config: {} },
        Binds: [],
      },
    };
  }
}

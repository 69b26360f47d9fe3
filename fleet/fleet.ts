import type { ChildProcess } from 'node:child_process';
import { loadConfig, type Config } from '../lib/config';
import { createDb } from '../lib/db';
import { migrateToLatest } from '../migrations';
import { forkApi, forkWorker, stopProcess } from '../test/processes';
import { freePort } from '../test/services';
import { DockerHost } from './dockerHost';
import { HaProxy } from './haproxy';
import { PgBouncer } from './pgbouncer';
import { RedisSentinels } from './redis';

export interface FleetOptions {
  /** A direct URL of the database's owner; the fleet works in its `public` schema, through PgBouncer. */
  databaseUrl: string;
  queuePrefix: string;
  /** Names of the simulated hosts, each a dockerd of its own. */
  hosts: string[];
  workersPerHost: number;
  apis: number;
  /** Further settings for every process (WORKER_CONCURRENCY, SANDBOX_REUSE...). */
  env?: Record<string, string>;
}

/**
 * The shape of a real deployment on one machine: API processes behind HAProxy, Redis under Sentinel (a primary,
 * a replica, three sentinels), Postgres behind PgBouncer in transaction mode, and hosts each with its own dockerd
 * and workers. Each part can fail for real: `loseHost`, `killApi`, `redis.primary.kill()`, `bouncer.restart()`.
 */
export class Fleet {
  private readonly apis: ChildProcess[] = [];
  private readonly workers = new Map<string, ChildProcess>();
  /** Processes stopped on purpose; any other exit is unplanned. */
  readonly planned = new Set<ChildProcess>();
  readonly unplanned: string[] = [];

  private constructor(
    readonly config: Config,
    readonly redis: RedisSentinels,
    readonly bouncer: PgBouncer,
    readonly hosts: Map<string, DockerHost>,
    private readonly apiPorts: number[],
    private readonly options: FleetOptions,
    private proxy?: HaProxy,
  ) {}

  static async start(options: FleetOptions, log: (line: string) => void = () => undefined): Promise<Fleet> {
    const direct = new URL(options.databaseUrl);
    const database = direct.pathname.slice(1);
    const admin = { user: decodeURIComponent(direct.username), password: decodeURIComponent(direct.password) };
    const redis = await RedisSentinels.start('mc-fleet');
    log(`redis: primary ${redis.primary.port}, replica ${redis.replica.port}, sentinels ${redis.sentinelList}`);
    const bouncer = await PgBouncer.start({ host: direct.hostname, port: Number(direct.port || 5432), database }, admin);
    log(`pgbouncer (transaction mode): 127.0.0.1:${bouncer.port}`);
    const pooled = Object.assign(new URL(direct), { hostname: '127.0.0.1', port: String(bouncer.port) });
    const config = loadConfig({
      ...process.env,
      ...options.env,
      DATABASE_URL: pooled.toString(),
      DATABASE_POOLED: 'true',
      DATABASE_LISTEN_URL: direct.toString(),
      DATABASE_SCHEMA: 'public',
      REDIS_SENTINELS: redis.sentinelList,
      REDIS_MASTER_NAME: redis.name,
      QUEUE_PREFIX: options.queuePrefix,
    });
    const db = createDb(options.databaseUrl, 'public', { poolMax: 1 });
    await migrateToLatest(db, 'public').finally(() => db.destroy());
    const hosts = new Map<string, DockerHost>();
    for (const name of options.hosts) {
      hosts.set(name, await DockerHost.start(name, config.SANDBOX_IMAGE));
      log(`host ${name}: dockerd at ${hosts.get(name)!.socketUrl}`);
    }
    const apiPorts = await Promise.all(Array.from({ length: options.apis }, () => freePort()));
    const fleet = new Fleet(config, redis, bouncer, hosts, apiPorts, options);
    apiPorts.forEach((_port, at) => fleet.startApi(at));
    for (const name of options.hosts) fleet.startWorkers(name);
    fleet.proxy = await HaProxy.start(apiPorts);
    log(`haproxy: ${fleet.url} -> APIs on ${apiPorts.join(', ')}`);
    return fleet;
  }

  /** The API, through HAProxy. */
  get url(): string {
    return this.proxy!.url;
  }

  /** Settings every process of the fleet gets, beyond the configuration's own. */
  private get processEnv(): Record<string, string> {
    const { config } = this;
    return {
      ...this.options.env,
      DATABASE_POOLED: 'true',
      DATABASE_LISTEN_URL: config.DATABASE_LISTEN_URL,
      REDIS_SENTINELS: this.redis.sentinelList,
      REDIS_MASTER_NAME: this.redis.name,
      SWEEP_EVERY_MS: '1000',
    };
  }

  workerIds(host: string): string[] {
    return Array.from({ length: this.options.workersPerHost }, (_, at) => `${this.options.queuePrefix.slice(1, -1)}-${host}-${at + 1}`);
  }

  /** A whole host is lost at once: its workers, its dockerd and every process of its sandboxes, SIGKILLed. */
  async loseHost(name: string): Promise<void> {
    const doomed = this.workerIds(name).map((id) => this.workers.get(id)!);
    doomed.forEach((worker) => this.planned.add(worker));
    await Promise.all([this.hosts.get(name)!.lose(), ...doomed.map((worker) => stopProcess(worker, 'SIGKILL'))]);
  }

  /** The host comes back: its dockerd, then its workers under the same ids, which remove what the loss left. */
  async restoreHost(name: string): Promise<void> {
    await this.hosts.get(name)!.restore();
    this.startWorkers(name);
  }

  /** SIGKILLs one API process; HAProxy sends its traffic to the others. */
  async killApi(at: number): Promise<void> {
    this.planned.add(this.apis[at]!);
    await stopProcess(this.apis[at]!, 'SIGKILL');
  }

  startApi(at: number): void {
    this.apis[at] = this.watch(`api ${at + 1}`, forkApi(this.config, this.apiPorts[at]!, this.processEnv));
  }

  /**
   * Stops every process (SIGTERM: workers hand back and remove their sandboxes), then every service. Returns the
   * sandboxes the workers left on the hosts, counted before the hosts are taken down with them.
   */
  async stop(): Promise<number> {
    const processes = [...this.apis, ...this.workers.values()];
    processes.forEach((child) => this.planned.add(child));
    await Promise.all(processes.map((child) => stopProcess(child)));
    let left = 0;
    for (const host of this.hosts.values()) left += (await host.docker().listContainers({ all: true }).catch(() => [])).length;
    await this.proxy?.stop();
    for (const host of this.hosts.values()) await host.destroy();
    await this.bouncer.stop();
    await this.redis.stop();
    return left;
  }

  private startWorkers(host: string): void {
    const env = { ...this.processEnv, DOCKER_HOST: this.hosts.get(host)!.socketUrl };
    for (const id of this.workerIds(host)) this.workers.set(id, this.watch(id, forkWorker(this.config, id, env)));
  }

  private watch(name: string, child: ChildProcess): ChildProcess {
    child.on('exit', (code, signal) => {
      if (!this.planned.has(child)) this.unplanned.push(`${name} exited (${signal ?? code})`);
    });
    return child;
  }
}

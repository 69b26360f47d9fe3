import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import IORedis from 'ioredis';
import { freePort } from '../test/services';
import { waitFor } from '../test/waitFor';
import { RedisProcess, serverArgs } from './redisProcess';

// Redis as operators run it for high availability, on free local ports: a Cluster of three primaries, and a
// primary with a replica under three sentinels. Each process can be SIGKILLed for real.

/** A Redis Cluster of three primaries, no replicas: every slot served, as `redis-cli --cluster create` makes it. */
export class RedisCluster {
  private constructor(
    private readonly nodes: RedisProcess[],
    private readonly dir: string,
  ) {}

  static async start(): Promise<RedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'mc-redis-cluster-'));
    const nodes: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const nodeDir = join(dir, String(port));
      execFileSync('mkdir', ['-p', nodeDir]);
      nodes.push(new RedisProcess(port, serverArgs(port, nodeDir, ['--cluster-enabled', 'yes', '--cluster-config-file', join(nodeDir, 'nodes.conf')])));
    }
    nodes.forEach((node) => node.start());
    await Promise.all(nodes.map((node) => node.ready()));
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    execFileSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
    const cluster = new RedisCluster(nodes, dir);
    await waitFor(() => cluster.healthy(), 30_000, 'cluster state ok on every node');
    return cluster;
  }

  /** For REDIS_CLUSTER_NODES. */
  get nodeList(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async healthy(): Promise<boolean> {
    const states = await Promise.all(
      this.nodes.map(async (node) => {
        const client = new IORedis(node.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
        try {
          return String(await client.call('CLUSTER', 'INFO')).includes('cluster_state:ok');
        } finally {
          client.disconnect();
        }
      }),
    );
    return states.every(Boolean);
  }
}

/** A primary and a replica under three sentinels that agree (quorum 2) on master `name`, failing over in ~1 s. */
export class RedisSentinels {
  private constructor(
    readonly primary: RedisProcess,
    readonly replica: RedisProcess,
    private readonly sentinels: RedisProcess[],
    private readonly dir: string,
    readonly name: string,
  ) {}

  static async start(name = 'mc-test'): Promise<RedisSentinels> {
    const dir = mkdtempSync(join(tmpdir(), 'mc-redis-sentinel-'));
    const [primaryPort, replicaPort] = [await freePort(), await freePort()];
    const primary = new RedisProcess(primaryPort, serverArgs(primaryPort, dir));
    const replica = new RedisProcess(replicaPort, serverArgs(replicaPort, dir, ['--replicaof', '127.0.0.1', String(primaryPort)]));
    primary.start();
    replica.start();
    await Promise.all([primary.ready(), replica.ready()]);
    const sentinels: RedisProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(file, [
        `port ${port}`,
        'bind 127.0.0.1',
        `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        '',
      ].join('\n'));
      sentinels.push(new RedisProcess(port, [file, '--sentinel']));
    }
    sentinels.forEach((sentinel) => sentinel.start());
    await Promise.all(sentinels.map((sentinel) => sentinel.ready()));
    const topology = new RedisSentinels(primary, replica, sentinels, dir, name);
    // A failover needs every sentinel to know the replica (from the primary's INFO, every 10 s) and the other
    // sentinels (their hellos, every 2 s); before that, a dead primary stays dead.
    await waitFor(() => topology.everySentinelKnows(), 60_000, 'the sentinels know the replica and each other');
    return topology;
  }

  private async everySentinelKnows(): Promise<boolean> {
    const views = await Promise.all(
      this.sentinels.map(async (sentinel) => {
        const client = new IORedis(sentinel.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
        try {
          const replicas = (await client.call('SENTINEL', 'replicas', this.name)) as unknown[];
          const others = (await client.call('SENTINEL', 'sentinels', this.name)) as unknown[];
          return replicas.length === 1 && others.length === this.sentinels.length - 1;
        } finally {
          client.disconnect();
        }
      }),
    );
    return views.every(Boolean);
  }

  /** For REDIS_SENTINELS. */
  get sentinelList(): string {
    return this.sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(',');
  }

  /** The port the sentinels now name as the primary. */
  async primaryPort(): Promise<number> {
    const client = new IORedis(this.sentinels[0]!.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
    try {
      const [, port] = (await client.call('SENTINEL', 'get-master-addr-by-name', this.name)) as [string, string];
      return Number(port);
    } finally {
      client.disconnect();
    }
  }

  async stop(): Promise<void> {
    await Promise.all([this.primary, this.replica, ...this.sentinels].map((process) => process.kill()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { RedisProcess, serverArgs } from '../fleet/redisProcess';
import { waitFor } from './waitFor';

// Services of a test file's own, on free ports, so it can kill and restart them for real without touching the
// Redis and Postgres the rest of the suite shares.

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A redis-server without persistence: killed and started again, it comes back empty, as a Redis that lost its data. */
export class PrivateRedis {
  private constructor(
    private readonly server: RedisProcess,
    private readonly password?: string,
  ) {}

  static async start(password?: string): Promise<PrivateRedis> {
    const port = await freePort();
    const auth = password ? ['--requirepass', password] : [];
    const redis = new PrivateRedis(new RedisProcess(port, [...serverArgs(port, tmpdir()), ...auth], password), password);
    await redis.start();
    return redis;
  }

  get port(): number {
    return this.server.port;
  }

  get url(): string {
    return `redis://${this.password ? `:${encodeURIComponent(this.password)}@` : ''}127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.server.running;
  }

  async start(): Promise<void> {
    this.server.start();
    await this.server.ready();
  }

  kill(): Promise<void> {
    return this.server.kill();
  }
}

const asPostgres = (command: string, args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', command, ...args], { stdio: 'pipe' });

/** A Postgres cluster in a temporary directory, run by the `postgres` user with Debian's binaries. */
export class PrivatePostgres {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly bin: string,
  ) {}

  static async create(user = 'mission', password = 'mission', database = 'mission'): Promise<PrivatePostgres> {
    const version = readdirSync('/usr/lib/postgresql').sort().at(-1)!;
    const dir = mkdtempSync(join(tmpdir(), 'mc-postgres-'));
    const { uid, gid } = { uid: Number(execFileSync('id', ['-u', 'postgres'])), gid: Number(execFileSync('id', ['-g', 'postgres'])) };
    chownSync(dir, uid, gid);
    const postgres = new PrivatePostgres(await freePort(), dir, `/usr/lib/postgresql/${version}/bin`);
    asPostgres(`${postgres.bin}/initdb`, ['-D', join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '--no-sync']);
    await postgres.start();
    const client = new Client({ host: '127.0.0.1', port: postgres.port, user: 'postgres', database: 'postgres' });
    await client.connect();
    await client.query(`create role ${user} login password '${password}'`);
    await client.query(`create database ${database} owner ${user}`);
    await client.end();
    return postgres;
  }

  url(user = 'mission', password = 'mission', database = 'mission'): string {
    return `postgres://${user}:${password}@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    this.pgCtl('start', ['-w', '-l', join(this.dir, 'log'), '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`]);
    await this.ready();
  }

  /** An immediate restart: every connection is cut, and the server recovers from its WAL as after a crash. */
  async restartImmediate(): Promise<void> {
    this.pgCtl('restart', ['-m', 'immediate', '-w', '-l', join(this.dir, 'log'), '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`]);
    await this.ready();
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    this.pgCtl('stop', ['-m', mode, '-w']);
  }

  async destroy(): Promise<void> {
    try {
      await this.stop('immediate');
    } catch {
      // already stopped
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private pgCtl(action: string, args: string[]): void {
    asPostgres(`${this.bin}/pg_ctl`, [action, '-D', join(this.dir, 'data'), ...args]);
  }

  private async ready(): Promise<void> {
    await waitFor(async () => {
      const client = new Client({ host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres' });
      return client.connect().then(() => client.end().then(() => true), () => false);
    }, 30_000, 'postgres start');
  }
}

const DOCKER_PID_FILE = '/var/run/docker.pid';

/**
 * Restarts the Docker daemon the bootstrap started: SIGTERM (it stops every container first, as `systemctl
 * restart docker` would), then the bootstrap starts it again as it does on a fresh machine.
 */
export async function restartDockerd(): Promise<void> {
  const pid = Number(readFileSync(DOCKER_PID_FILE, 'utf8'));
  process.kill(pid, 'SIGTERM');
  await waitFor(async () => !isRunning(pid), 60_000, 'dockerd stop');
  execFileSync('bash', [join(__dirname, '..', 'scripts', 'bootstrap.sh')], { stdio: 'ignore' });
}

/**
 * Freezes the Docker daemon (SIGSTOP): every call to it hangs, as on a daemon stuck under load. Returns the
 * function that lets it go on; the bootstrap also lets a frozen daemon go on, should a test die first.
 */
export function freezeDockerd(): () => void {
  const pid = Number(readFileSync(DOCKER_PID_FILE, 'utf8'));
  process.kill(pid, 'SIGSTOP');
  return () => process.kill(pid, 'SIGCONT');
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts `server` on a free loopback port and gives the base URL of its API there (`http://127.0.0.1:<port>/v1`). */
export async function localBaseUrl(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

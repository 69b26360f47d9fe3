import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import IORedis from 'ioredis';
import { waitFor } from '../test/waitFor';

/** One redis-server (or sentinel) process on a port of its own, started and SIGKILLed for real, as often as asked. */
export class RedisProcess {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly args: string[],
    private readonly password?: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  start(): void {
    this.child = spawn('redis-server', this.args, { stdio: 'ignore' });
  }

  async ready(): Promise<void> {
    const client = new IORedis(this.port, '127.0.0.1', { password: this.password, lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 1 });
    client.on('error', () => undefined); // refused until the server listens: that is what this waits out
    try {
      await waitFor(() => client.ping().then((answer) => answer === 'PONG', () => false), 30_000, `redis on ${this.port}`);
    } finally {
      client.disconnect();
    }
  }

  /** SIGKILL, as a crash or an OOM kill would. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}

export const serverArgs = (port: number, dir: string, extra: string[] = []) => [
  '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...extra,
];

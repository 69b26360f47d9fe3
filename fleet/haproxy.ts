import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../test/services';
import { waitFor } from '../test/waitFor';

/**
 * Debian's HAProxy in front of the API processes: round robin, an API that stops answering /healthz is out within
 * a second, and a request whose connection failed goes to another (redispatch). SSE streams are long tunnels.
 */
export class HaProxy {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(apiPorts: number[]): Promise<HaProxy> {
    const dir = mkdtempSync(join(tmpdir(), 'mc-haproxy-'));
    const port = await freePort();
    const config = join(dir, 'haproxy.cfg');
    writeFileSync(config, [
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 120s',
      '  timeout server 120s',
      '  timeout tunnel 1h',
      '  retries 3',
      '  option redispatch',
      'frontend api',
      `  bind 127.0.0.1:${port}`,
      '  default_backend apis',
      'backend apis',
      '  balance roundrobin',
      '  option httpchk GET /healthz',
      '  default-server inter 500ms fall 2 rise 1',
      ...apiPorts.map((apiPort, at) => `  server api${at + 1} 127.0.0.1:${apiPort} check`),
      '',
    ].join('\n'));
    const child = spawn('haproxy', ['-db', '-f', config], { stdio: 'ignore' });
    const proxy = new HaProxy(port, child, dir);
    await waitFor(() => fetch(`${proxy.url}/healthz`).then((response) => response.ok, () => false), 30_000, 'haproxy in front of an API');
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = once(this.child, 'exit');
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

/** The API (apps/api.ts) in a process of its own on `port`, once its /healthz answers. */
export async function startApiProcess(env: NodeJS.ProcessEnv, port: number): Promise<ChildProcess> {
  const api = fork(join(__dirname, '..', 'apps', 'api.ts'), [], { env: { ...env, PORT: String(port) }, execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  for (let i = 0; i < 200 && !(await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)); i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return api;
}

export async function stopApiProcess(api: ChildProcess): Promise<void> {
  api.kill('SIGTERM');
  await once(api, 'exit');
}

import type Docker from 'dockerode';
import type { SandboxDriver } from '../sandbox/driver';
import { timed } from './stats';

/**
 * The sandbox baseline: create, start and remove the very container the driver makes (same image, runtime and
 * hardening), with dockerode and nothing else, `parallel` at a time. Returns starts per second.
 */
export async function bareStartsPerSecond(docker: Docker, driver: SandboxDriver, starts: number, parallel: number): Promise<number> {
  const sandbox = await driver.start();
  const spec = await docker.getContainer(sandbox.id).inspect();
  await sandbox.destroy();
  const create = { Image: spec.Config.Image, Cmd: spec.Config.Cmd, User: spec.Config.User, Labels: spec.Config.Labels, HostConfig: spec.HostConfig, OpenStdin: true };
  const [ms] = await timed(async () => {
    let done = 0;
    await Promise.all(
      Array.from({ length: parallel }, async () => {
        while (done++ < starts) {
          const container = await docker.createContainer(create);
          await container.start();
          await container.remove({ force: true });
        }
      }),
    );
  });
  return starts / (ms / 1000);
}

// Builds the repository's environments (environments/<name>/Dockerfile) whose images are missing, FROM the base
// sandbox image, with the host's network for apt only (run by scripts/bootstrap.sh; sandboxes never get one).
import { spawnSync } from 'node:child_process';
import { loadConfig } from '../lib/config';

const config = loadConfig();
const has = (image: string) => spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status === 0;
for (const environment of Object.values(config.ENVIRONMENTS)) {
  if (!environment.recipe || has(environment.image)) continue;
  console.error(`bootstrap: building environment ${environment.name} (${environment.image}) from Debian packages (a minute, once)`);
  const build = spawnSync('docker', ['build', '-q', '--network', 'host', '--build-arg', `BASE_IMAGE=${config.SANDBOX_IMAGE}`, '-t', environment.image, environment.recipe], { encoding: 'utf8' });
  if (build.status !== 0) {
    console.error(`bootstrap: environment ${environment.name} failed to build:\n${build.stderr.trim().split('\n').slice(-15).join('\n')}`);
    process.exit(1);
  }
}

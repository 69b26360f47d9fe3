import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Takes a simulated host's directory for this process. A host's directories are fixed (its dockerd's data root
 * keeps the sandbox image between runs), so two fleets on one machine would share a daemon and one's chaos would
 * kill the other's host: the second is refused in words. A claim left by a process that died is taken over.
 */
export function claimHost(dir: string, name: string): void {
  const file = join(dir, 'owner');
  for (;;) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(readFileSync(file, 'utf8'));
    if (holder === process.pid) return;
    if (isAlive(holder)) {
      throw new Error(`fleet: host ${name} (${dir}) is held by process ${holder}: one fleet runs on a machine at a time (npm run fleet, or the suite's fleet test); stop that one first`);
    }
    unlinkSync(file);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

import { execFile } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(__dirname, '..', 'bin', 'missions.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the `missions` command as a real process, as users and CI run it; `env` over this process's own. */
export function runMissions(args: string[], env: Record<string, string>, input?: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

import { SandboxError, SandboxRequestError } from './errors';
import type { Sandbox } from './sandbox';

/**
 * /workspace as one gzip'd tar, made and unpacked inside the sandbox through its step channel: bytes, modes,
 * times and symbolic links (as links) exact. Nothing of the archive is unpacked on the host, so a forged or
 * hostile archive can do no more than the mission's own steps could.
 */

/** The most a step's stdin may carry (channel.c's MAX_PAYLOAD): a restore gives the archive there. */
export const MAX_ARCHIVE_BYTES = 64 << 20;
/** gzip -1: the host's CPU is scarcer than the bytes. */
const SAVE = "exec tar -I 'gzip -1' --numeric-owner -C /workspace -cf - .";
/** `-p`: modes as they were, not masked by the umask. */
const RESTORE = 'exec tar -xzpf - -C /workspace';

/** The workspace could not be saved (a file the agent cannot read, or an archive past its bound). */
export class WorkspaceSaveError extends SandboxRequestError {}

/** A saved workspace could not be unpacked into a new sandbox: the mission cannot go on with its files. */
export class WorkspaceRestoreError extends SandboxError {
  constructor(reason: string) {
    super('ERR_WORKSPACE_RESTORE', `the mission's saved files could not be restored: ${reason}`);
  }
}

/** Saves /workspace into an archive of at most `maxBytes`; rejects with WorkspaceSaveError when it cannot. */
export async function saveWorkspace(sandbox: Sandbox, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const result = await sandbox.run(SAVE, { timeoutMs, maxOutputBytes: maxBytes });
  if (result.stdout_bytes > maxBytes) throw new WorkspaceSaveError(`its archive passed ${maxBytes} bytes`);
  if (result.exit_code !== 0) throw new WorkspaceSaveError(`tar exited with code ${result.exit_code}: ${lastLine(result.stderr)}`);
  return result.stdout_base64 === undefined ? Buffer.from(result.stdout) : Buffer.from(result.stdout_base64, 'base64');
}

/** Unpacks an archive saveWorkspace made into the sandbox's (empty) /workspace. */
export async function restoreWorkspace(sandbox: Sandbox, archive: Buffer, timeoutMs: number): Promise<void> {
  const result = await sandbox.run(RESTORE, { timeoutMs, maxOutputBytes: 1_024, stdin: archive });
  if (result.exit_code !== 0) throw new WorkspaceRestoreError(`tar exited with code ${result.exit_code}: ${lastLine(result.stderr)}`);
}

function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1)?.slice(0, 200) ?? '';
}

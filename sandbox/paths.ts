import { posix } from 'node:path';
import { SandboxRequestError } from './errors';

export const WORKSPACE = '/workspace';

/**
 * A file tool's path as the step channel wants it: relative to /workspace. Accepts `notes/a.txt` and
 * `/workspace/notes/a.txt`; refuses anything that resolves outside /workspace. (The channel checks again and
 * follows no symbolic link, so a link planted inside cannot lead out either.)
 */
export function workspaceRelative(path: string): string {
  const outside = () => new SandboxRequestError(`${JSON.stringify(path)} is outside ${WORKSPACE}: file tools work only inside it`);
  if (path.includes('\0')) throw outside();
  const absolute = posix.normalize(posix.isAbsolute(path) ? path : posix.join(WORKSPACE, path));
  if (!absolute.startsWith(`${WORKSPACE}/`)) throw outside();
  return absolute.slice(WORKSPACE.length + 1);
}

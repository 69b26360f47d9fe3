import { SandboxError } from '../sandbox/errors';
import type { Sandbox } from '../sandbox/sandbox';
import { MAX_ARCHIVE_BYTES } from '../sandbox/workspaceArchive';
import { inlineArchive } from './archives';
import type { FileStore } from './fileStore';

/** A file a task starts with, as its spec gives it: an uploaded archive under `path`, or an inline file. */
export type TaskFile = { file_id: string; path?: string } | { path: string; content: string; encoding: 'utf-8' | 'base64' };

/** An archive to unpack, and where under /workspace. */
export interface TaskArchive {
  under: string | undefined;
  archive: Buffer;
}

/** A task's files could not be put in its workspace (gone by retention, or more than the workspace holds). */
export class TaskFilesError extends SandboxError {
  constructor(reason: string) {
    super('ERR_FILES', `the mission's files could not be unpacked into /workspace: ${reason}`);
  }
}

const UNPACK_TIMEOUT_MS = 60_000;
const QUOTE = "'";
/** For sh: in single quotes, each single quote closed, escaped and opened again. */
const quoted = (text: string) => QUOTE + text.replaceAll(QUOTE, `${QUOTE}\\${QUOTE}${QUOTE}`) + QUOTE;

/** The archives of a task's files in their order: its inline files together, where the first of them comes. */
export async function taskArchives(files: FileStore, tenantId: string, given: readonly TaskFile[]): Promise<TaskArchive[]> {
  const ids = given.flatMap((file) => ('file_id' in file ? [file.file_id] : []));
  const stored = await files.archives(tenantId, ids);
  const inline = given.flatMap((file) => ('content' in file ? [{ path: file.path, data: Buffer.from(file.content, file.encoding === 'base64' ? 'base64' : 'utf8') }] : []));
  const archives: TaskArchive[] = [];
  for (const file of given) {
    if ('file_id' in file) {
      const archive = stored.get(file.file_id);
      if (!archive) throw new TaskFilesError(`file ${file.file_id} is no longer stored`);
      archives.push({ under: file.path, archive });
    } else if (file === given.find((other) => 'content' in other)) {
      archives.push({ under: undefined, archive: await inlineArchive(inline, MAX_ARCHIVE_BYTES) });
    }
  }
  return archives;
}

/**
 * Unpacks each archive (checked and rewritten on upload, tasks/archives.ts) into /workspace, inside the sandbox:
 * nothing is written on the host, and what the archive could do is what a step could.
 */
export async function unpackTaskFiles(sandbox: Sandbox, archives: readonly TaskArchive[]): Promise<void> {
  for (const { under, archive } of archives) {
    const target = under === undefined ? '/workspace' : quoted(`/workspace/${under}`);
    const command = `mkdir -p ${target} && exec tar -xzpf - --no-same-owner -C ${target}`;
    const result = await sandbox.run(command, { timeoutMs: UNPACK_TIMEOUT_MS, maxOutputBytes: 4_096, stdin: archive });
    if (result.exit_code !== 0) {
      const reason = result.stderr.trimEnd().split('\n').at(-1)?.slice(0, 300) || `tar exited with code ${result.exit_code}`;
      throw new TaskFilesError(reason);
    }
  }
}

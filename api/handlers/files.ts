import { createHash } from 'node:crypto';
import { normaliseArchive, type ArchiveLimits } from '../../tasks/archives';
import { ArchiveError } from '../../tasks/archivePaths';
import type { FileStore, StoredFile } from '../../tasks/fileStore';
import { isUuid } from '../../lib/ids';
import type { Caller } from '../apiKeys';
import { HttpProblem } from '../problem';
import { iso } from '../views';
import type { HandlerResult } from './result';

export interface FileHandlerDeps {
  files: FileStore;
  /** What an uploaded archive may hold (its files must fit a workspace). */
  archiveLimits: ArchiveLimits;
}

export function fileView(file: StoredFile) {
  return { file_id: file.id, bytes: file.bytes, sha256: file.sha256, expanded_bytes: file.expanded_bytes, entries: file.entries, created_at: iso(file.created_at) };
}

/** Tenants' archives: uploaded once per content, read back as metadata; another tenant's file is a 404. */
export function fileHandlers({ files, archiveLimits }: FileHandlerDeps) {
  return {
    async upload(caller: Caller, body: unknown): Promise<HandlerResult> {
      if (!Buffer.isBuffer(body) || body.length === 0) {
        throw new HttpProblem(400, 'empty-file', 'The body is empty.', 'send the archive (tar, tar.gz or zip) as the body');
      }
      const sha256 = createHash('sha256').update(body).digest('hex');
      const known = await files.withContent(caller.tenantId, sha256);
      if (known) return { status: 200, body: fileView(known), headers: { Location: `/v1/files/${known.id}` } };
      const normalised = await normaliseArchive(body, archiveLimits).catch((error: unknown) => {
        throw error instanceof ArchiveError ? new HttpProblem(422, 'invalid-archive', 'The archive cannot be unpacked into a workspace.', error.message) : error;
      });
      const file = await files.put(caller.tenantId, sha256, body.length, normalised);
      return { status: 201, body: fileView(file), headers: { Location: `/v1/files/${file.id}` } };
    },

    async get(caller: Caller, id: string): Promise<HandlerResult> {
      const file = isUuid(id) ? await files.find(caller.tenantId, id) : undefined;
      if (!file) throw HttpProblem.notFound(`file ${id}`);
      return { status: 200, body: fileView(file) };
    },
  };
}

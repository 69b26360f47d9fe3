import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ArchiveError, entryPath } from '../tasks/archivePaths';
import type { ApiClient } from './client';
import { CliError, EXIT } from './exitCodes';

interface Listed {
  path: string;
  bytes: number;
  sha256: string;
}

/**
 * Writes a mission's artifacts under `directory`, each checked against its sha256; a path that would leave the
 * directory (a sandbox's names are the tenant's) is refused, not written. Returns how many files were written.
 */
export async function downloadArtifacts(client: ApiClient, missionId: string, directory: string): Promise<number> {
  const { data } = await client.expect<{ data: Listed[] }>('GET', `/v1/missions/${encodeURIComponent(missionId)}/artifacts`);
  for (const artifact of data) {
    let inside: string | undefined;
    try {
      inside = entryPath(artifact.path);
    } catch (error) {
      if (!(error instanceof ArchiveError)) throw error;
    }
    if (inside === undefined) throw new CliError(`the artifact ${JSON.stringify(artifact.path)} of mission ${missionId} is no path inside a directory; nothing of it was written`, EXIT.server);
    const bytes = await client.download(`/v1/missions/${encodeURIComponent(missionId)}/artifacts/${inside.split('/').map(encodeURIComponent).join('/')}`);
    if (createHash('sha256').update(bytes).digest('hex') !== artifact.sha256) throw new CliError(`the artifact ${artifact.path} of mission ${missionId} arrived damaged (its sha256 differs)`, EXIT.server);
    const target = join(directory, inside);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, bytes);
  }
  return data.length;
}

/**
 * A folder name for one results line's artifacts: its custom_id where it is a plain name, else its mission id;
 * then its epoch past the first, and its attempt past the first when every attempt is asked for.
 */
export function artifactFolder(line: { mission_id: string; custom_id: string | null; epoch: number; attempt: number }, allAttempts: boolean): string {
  const plain = line.custom_id !== null && /^[\w][\w.-]{0,127}$/.test(line.custom_id) ? line.custom_id : line.mission_id;
  const epoch = line.epoch > 1 ? `${plain}.epoch-${line.epoch}` : plain;
  return allAttempts && line.attempt > 1 ? `${epoch}.attempt-${line.attempt}` : epoch;
}

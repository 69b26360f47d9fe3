import { resolve } from 'node:path';
import type { ApiClient } from './client';
import type { MissionFile } from './missionFile';
import { packDirectory } from './packDirectory';

interface Uploaded {
  file_id: string;
  sha256: string;
}

/**
 * Packs and uploads each distinct directory once (`--files DIR` for every mission, `files_dir` per mission), and
 * gives each mission its directory's file first in `environment.files`. Returns the sha256 of every upload, which
 * the submission's idempotency key is made of too: the same suite with changed files is a new submission.
 */
export async function attachDirectories(client: ApiClient, file: MissionFile, everyMission: string | undefined): Promise<string[]> {
  const shared = everyMission === undefined ? undefined : resolve(everyMission);
  const directories = [...new Set([...(shared ? [shared] : []), ...file.missions.flatMap((item) => (item.filesDir ? [item.filesDir] : []))])];
  const uploads = new Map<string, Uploaded>();
  for (const directory of directories) uploads.set(directory, await client.upload<Uploaded>('/v1/files', await packDirectory(directory)));
  for (const item of file.missions) {
    const added = [shared, item.filesDir].filter((directory): directory is string => directory !== undefined).map((directory) => ({ file_id: uploads.get(directory)!.file_id }));
    if (added.length === 0) continue;
    const environment = (item.mission.environment ?? {}) as { files?: unknown[] };
    item.mission.environment = { ...environment, files: [...added, ...(environment.files ?? [])] };
  }
  return directories.map((directory) => uploads.get(directory)!.sha256);
}

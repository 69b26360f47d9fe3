import { resolve } from 'node:path';
import type { ApiClient } from './client';
import type { MissionFile } from './missionFile';
import { packDirectory } from './packDirectory';

interface Uploaded {
  file_id: string;
  sha256: string;
}

/**
 * Packs and uploads each distinct directory once (`--files DIR` for every mission, `files_dir` and
 * `scorer_files_dir` per mission), and gives each mission its directory's file first in `environment.files`, and
 * its scorer's in `scorer.files`. Returns the sha256 of every upload, which the submission's idempotency key is
 * made of too: the same suite with changed files is a new submission.
 */
export async function attachDirectories(client: ApiClient, file: MissionFile, everyMission: string | undefined): Promise<string[]> {
  const shared = everyMission === undefined ? undefined : resolve(everyMission);
  const named = file.missions.flatMap((item) => [item.filesDir, item.scorerFilesDir].filter((directory): directory is string => directory !== undefined));
  const directories = [...new Set([...(shared ? [shared] : []), ...named])];
  const uploads = new Map<string, Uploaded>();
  for (const directory of directories) uploads.set(directory, await client.upload<Uploaded>('/v1/files', await packDirectory(directory)));
  const fileOf = (directory: string) => ({ file_id: uploads.get(directory)!.file_id });
  for (const item of file.missions) {
    const added = [shared, item.filesDir].filter((directory): directory is string => directory !== undefined).map(fileOf);
    if (added.length > 0) {
      const environment = (item.mission.environment ?? {}) as { files?: unknown[] };
      item.mission.environment = { ...environment, files: [...added, ...(environment.files ?? [])] };
    }
    if (item.scorerFilesDir !== undefined) {
      const scorer = item.mission.scorer as { files?: unknown[] };
      item.mission.scorer = { ...scorer, files: [fileOf(item.scorerFilesDir), ...(scorer.files ?? [])] };
    }
  }
  return directories.map((directory) => uploads.get(directory)!.sha256);
}

import type { Knex } from 'knex';
import type { Artifact, ArtifactSummary } from './artifacts';

/** An artifact as listed: without its bytes. */
export type ArtifactEntry = Omit<Artifact, 'content'>;

/** Rows of one statement: a few MiB of bytea at most, whatever the artifacts hold. */
const INSERT_CHUNK = 16;

/**
 * Missions' artifacts in Postgres, with their missions (and purged with them): every host of a fleet serves them.
 * What collecting kept and left out is the mission's `artifacts`.
 */
export class ArtifactStore {
  constructor(private readonly db: Knex) {}

  /** Keeps a mission's artifacts, in place of any an earlier run of it kept. */
  async keep(missionId: string, files: readonly Artifact[], summary: ArtifactSummary): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('artifacts').where({ mission_id: missionId }).del();
      for (let start = 0; start < files.length; start += INSERT_CHUNK) {
        const rows = files.slice(start, start + INSERT_CHUNK).map((file) => ({ mission_id: missionId, path: file.path, bytes: file.bytes, sha256: file.sha256, content: file.content }));
        await trx('artifacts').insert(rows);
      }
      await trx('missions').where({ id: missionId }).update({ artifacts: JSON.stringify(summary) });
    });
  }

  async list(missionId: string): Promise<ArtifactEntry[]> {
    const rows = (await this.db('artifacts').where({ mission_id: missionId }).orderBy('path').select('path', 'bytes', 'sha256')) as { path: string; bytes: string; sha256: string }[];
    return rows.map((row) => ({ ...row, bytes: Number(row.bytes) }));
  }

  async content(missionId: string, path: string): Promise<Buffer | undefined> {
    const row = (await this.db('artifacts').where({ mission_id: missionId, path }).first('content')) as { content: Buffer } | undefined;
    return row?.content;
  }
}

import type { Knex } from 'knex';

/**
 * Missions' saved /workspace archives in Postgres, so that any worker of the fleet can restore one: the last
 * save of each mission only, deleted when the mission ends (and with the mission by retention).
 */
export class SavedWorkspaces {
  constructor(private readonly db: Knex) {}

  /**
   * Keeps `archive` as the mission's files after step `afterSeq`, replacing its last save. Only while `workerId`
   * runs the mission: a worker that lost the mission to another writes nothing over the new owner's saves.
   * Returns whether it was kept.
   */
  async save(missionId: string, afterSeq: number, archive: Buffer, workerId: string): Promise<boolean> {
    const { rowCount } = await this.db.raw(
      `insert into saved_workspaces (mission_id, after_seq, archive, bytes)
       select id, ?, ?, ? from missions where id = ? and status = 'running' and worker_id = ?
       on conflict (mission_id) do update set after_seq = excluded.after_seq, archive = excluded.archive,
         bytes = excluded.bytes, saved_at = now()`,
      [afterSeq, archive, archive.length, missionId, workerId],
    );
    return rowCount === 1;
  }

  /** After which step the mission's last save was made, if it has one. */
  async savedAfter(missionId: string): Promise<number | undefined> {
    const row = await this.db('saved_workspaces').where({ mission_id: missionId }).first<{ after_seq: number } | undefined>('after_seq');
    return row?.after_seq;
  }

  /** The mission's last saved archive, if it has one. */
  async archive(missionId: string): Promise<Buffer | undefined> {
    const row = await this.db('saved_workspaces').where({ mission_id: missionId }).first<{ archive: Buffer } | undefined>('archive');
    return row?.archive;
  }

  /** The mission ended: its files are needed no more. */
  async drop(missionId: string): Promise<void> {
    await this.db('saved_workspaces').where({ mission_id: missionId }).del();
  }
}

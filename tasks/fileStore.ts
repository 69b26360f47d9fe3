import type { Knex } from 'knex';
import type { NormalisedArchive } from './archives';

/** An uploaded archive as its tenant sees it. */
export interface StoredFile {
  id: string;
  sha256: string;
  bytes: number;
  expanded_bytes: number;
  entries: number;
  created_at: Date;
}

const COLUMNS = ['id', 'sha256', 'bytes', 'expanded_bytes', 'entries', 'created_at'] as const;
const fromRow = (row: Record<string, unknown>): StoredFile => ({
  ...(row as unknown as StoredFile),
  bytes: Number(row.bytes),
  expanded_bytes: Number(row.expanded_bytes),
});

/**
 * Tenants' archives in Postgres, so every host of a fleet reads them: one row per tenant and content (the sha256
 * of the bytes uploaded), holding the archive as the platform rewrote it. Another tenant's file does not exist.
 */
export class FileStore {
  constructor(private readonly db: Knex) {}

  /** The tenant's file of this content, if it uploaded it before (marked as used). */
  async withContent(tenantId: string, sha256: string): Promise<StoredFile | undefined> {
    const [row] = await this.db('files').where({ tenant_id: tenantId, sha256 }).update({ last_used_at: this.db.fn.now() }).returning(COLUMNS);
    return row && fromRow(row);
  }

  /** Keeps an archive; one uploaded at the same time by another request is the one kept. */
  async put(tenantId: string, sha256: string, bytes: number, normalised: NormalisedArchive): Promise<StoredFile> {
    const [row] = await this.db('files')
      .insert({ tenant_id: tenantId, sha256, bytes, expanded_bytes: normalised.expandedBytes, entries: normalised.entries, archive: normalised.archive })
      .onConflict(['tenant_id', 'sha256'])
      .merge({ last_used_at: this.db.fn.now() })
      .returning(COLUMNS);
    return fromRow(row);
  }

  async find(tenantId: string, id: string): Promise<StoredFile | undefined> {
    const row = await this.db('files').where({ tenant_id: tenantId, id }).first(COLUMNS);
    return row && fromRow(row);
  }

  /** Marks the tenant's files as named by a submission; what each holds unpacked (a file not there is not in the map). */
  async use(tenantId: string, ids: readonly string[]): Promise<Map<string, number>> {
    if (ids.length === 0) return new Map();
    const rows = (await this.db('files')
      .where({ tenant_id: tenantId })
      .whereIn('id', ids)
      .update({ last_used_at: this.db.fn.now() })
      .returning(['id', 'expanded_bytes'])) as { id: string; expanded_bytes: string }[];
    return new Map(rows.map((row) => [row.id, Number(row.expanded_bytes)]));
  }

  /** The rewritten archives of the tenant's files, by id. */
  async archives(tenantId: string, ids: readonly string[]): Promise<Map<string, Buffer>> {
    if (ids.length === 0) return new Map();
    const rows = (await this.db('files').where({ tenant_id: tenantId }).whereIn('id', ids).select('id', 'archive')) as { id: string; archive: Buffer }[];
    return new Map(rows.map((row) => [row.id, row.archive]));
  }
}

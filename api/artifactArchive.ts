import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Response } from 'express';
import * as tar from 'tar-stream';
import type { ArtifactStore } from '../tasks/artifactStore';

/**
 * `GET /v1/missions/:id/artifacts.tar.gz`: every artifact of the mission in one archive, read from Postgres one
 * file at a time as the client takes them. A failure after the first byte cuts the connection: a client never
 * mistakes a partial archive for a whole one.
 */
export async function streamArtifactArchive(res: Response, artifacts: ArtifactStore, missionId: string): Promise<void> {
  const entries = await artifacts.list(missionId);
  const pack = tar.pack();
  res.writeHead(200, { 'Content-Type': 'application/gzip', 'Content-Disposition': `attachment; filename="${missionId}-artifacts.tar.gz"`, 'Cache-Control': 'no-store' });
  const sending = pipeline(pack, createGzip(), res);
  try {
    for (const entry of entries) {
      const content = (await artifacts.content(missionId, entry.path)) ?? Buffer.alloc(0);
      await new Promise<void>((resolve, reject) => pack.entry({ name: entry.path, size: content.length, mode: 0o644 }, content, (error) => (error ? reject(error) : resolve())));
    }
    pack.finalize();
    await sending;
  } catch (error) {
    res.destroy(error as Error);
    sending.catch(() => undefined);
    throw error;
  }
}

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import type { ApiClient } from './client';

/** Writes a batch's report (GET /v1/batches/:id/report: one HTML file that opens offline) to `path`. */
export async function writeReport(client: ApiClient, batchId: string, path: string): Promise<void> {
  const response = await client.stream(`/v1/batches/${batchId}/report`);
  const target = createWriteStream(path);
  for await (const chunk of response) if (!target.write(chunk)) await once(target, 'drain');
  await new Promise((resolve) => target.end(resolve));
}

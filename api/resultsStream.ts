import { once } from 'node:events';
import type { Response } from 'express';
import { resultLine, type ResultRow } from '../jobs/batches/batchResults';

/**
 * `GET /v1/batches/:id/results`: JSON Lines, one line per item, written as the pages come from Postgres and no
 * faster than the client reads them, so the API's memory stays flat whatever the batch's size. A failure after
 * the first line cuts the connection: a client never mistakes a partial file for a whole one.
 */
export async function streamBatchResults(res: Response, pages: AsyncGenerator<ResultRow[]>): Promise<void> {
  let gone = false;
  res.once('close', () => (gone = true));
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson; charset=utf-8', 'Cache-Control': 'no-store' });
  try {
    for await (const page of pages) {
      if (gone) return void (await pages.return(undefined));
      const lines = page.map((row) => `${JSON.stringify(resultLine(row))}\n`).join('');
      if (!res.write(lines)) await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
    res.end();
  } catch (error) {
    res.destroy(error as Error);
    throw error; // for the error middleware's log
  }
}

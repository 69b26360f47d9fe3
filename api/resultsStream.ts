import type { Response } from 'express';
import type { ResultRow } from '../store/batches/batchResults';

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
      // Line by line: each is garbage once written, never part of one large string per page.
      for (const row of page) {
        if (gone) return void (await pages.return(undefined));
        if (!res.write(`${row.line}\n`)) await drained(res);
      }
    }
    res.end();
  } catch (error) {
    res.destroy(error as Error);
    throw error; // for the error middleware's log
  }
}

/** Resolves when the client has taken what was written (or gone), leaving no listener behind. */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

import type { Express, Request, Response } from 'express';
import type { batchHandlers } from '../api/handlers/batches';
import { HttpProblem } from '../api/problem';
import { streamBatchResults } from '../api/resultsStream';
import type { BatchStore } from '../store/batches/batchStore';
import { isUuid } from '../lib/ids';
import { pageRoute } from './pages';
import type { ConsoleReader } from './reader';
import type { ConsoleRenderer } from './render';
import { batchReportHtml } from './report';
import { actingFor, scopeOf } from './missionPages';
import { CONSOLE, viewerOf } from './session';

export interface BatchPagesDeps {
  reader: ConsoleReader;
  renderer: ConsoleRenderer;
  batches: BatchStore;
  batchActions: ReturnType<typeof batchHandlers>;
}

const PAGE_SIZE = 50;

/** The batches list, a batch's page (with a comparison to another run), its results and report, and its actions. */
export function batchPages(app: Express, deps: BatchPagesDeps): void {
  const { reader, renderer, batches, batchActions } = deps;
  const route = (handler: Parameters<typeof pageRoute>[1]) => pageRoute(renderer, handler);
  /** The viewer acting as the batch's owner; a batch that is not the viewer's to see is a 404. */
  const ownerOf = async (req: Request, res: Response, id = req.params.id as string) => {
    const { caller } = viewerOf(res);
    const tenantId = !isUuid(id) ? undefined : caller.admin ? await batches.ownerOf(id) : (await batches.find(caller.tenantId, id))?.tenant_id;
    if (!tenantId) throw HttpProblem.notFound(`batch ${id}`);
    return actingFor(caller, tenantId);
  };

  app.get(`${CONSOLE}/batches`, route(async (req, res) => {
    const before = typeof req.query.before === 'string' && isUuid(req.query.before) ? req.query.before : undefined;
    const rows = await reader.batches(scopeOf(viewerOf(res).caller), before, PAGE_SIZE);
    const next = rows.length === PAGE_SIZE ? `${CONSOLE}/batches?before=${rows[rows.length - 1]!.id}` : undefined;
    return { render: 'batches', data: { title: 'Batches', rows, next } };
  }));
  app.get(`${CONSOLE}/batches/:id`, route(async (req, res) => {
    const owner = await ownerOf(req, res);
    const id = req.params.id as string;
    const compareWith = typeof req.query.compare === 'string' ? req.query.compare.trim() : undefined;
    const [batch, report, compare] = await Promise.all([
      batches.summary(owner.tenantId, id),
      batches.report(id),
      compareWith ? batchActions.compare(owner, id, { with: compareWith }).then((result) => result.body) : undefined,
    ]);
    return { render: 'batch', data: { title: `Batch ${id}`, batch, report, compare, compareWith } };
  }));
  app.get(`${CONSOLE}/batches/:id/results.jsonl`, async (req, res, next) => {
    try {
      const owner = await ownerOf(req, res);
      const filter = await batchActions.resultsFilter(owner, req.params.id as string, {});
      res.attachment(`batch-${req.params.id}-results.jsonl`);
      await streamBatchResults(res, batches.results(req.params.id as string, filter));
    } catch (error) {
      if (error instanceof HttpProblem) return void res.status(error.status).type('text/plain').send(error.title);
      next(error);
    }
  });
  app.get(`${CONSOLE}/batches/:id/report.html`, async (req, res, next) => {
    try {
      const owner = await ownerOf(req, res);
      const html = await batchReportHtml(deps, owner.tenantId, req.params.id as string);
      if (!html) throw HttpProblem.notFound(`batch ${req.params.id}`);
      res.attachment(`batch-${req.params.id}-report.html`).type('html').send(html);
    } catch (error) {
      if (error instanceof HttpProblem) return void res.status(error.status).type('text/plain').send(error.title);
      next(error);
    }
  });
  app.post(`${CONSOLE}/batches/:id/cancel`, route(async (req, res) => {
    await batchActions.cancel(await ownerOf(req, res), req.params.id as string);
    return { redirect: `${CONSOLE}/batches/${req.params.id}` };
  }));
  app.post(`${CONSOLE}/batches/:id/retry`, route(async (req, res) => {
    await batchActions.retry(await ownerOf(req, res), req.params.id as string, {});
    return { redirect: `${CONSOLE}/batches/${req.params.id}` };
  }));
}

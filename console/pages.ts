import type { Request, RequestHandler, Response } from 'express';
import { HttpProblem } from '../api/problem';
import type { ConsoleRenderer, PageContext } from './render';
import { pageOf } from './session';

/** A console page handler: what it renders, or where it sends the browser next. */
export type PageResult = { render: string; data: Record<string, unknown>; status?: number } | { redirect: string };

/**
 * Adapts a page handler to Express: renders the template it names (with the viewer's page context) or
 * redirects, and shows a refusal (an unknown or another tenant's id, an action that does not apply) as an
 * HTML page with the problem's status.
 */
export function pageRoute(renderer: ConsoleRenderer, handler: (req: Request, res: Response, page: PageContext) => Promise<PageResult>): RequestHandler {
  return async (req, res, next) => {
    const page = pageOf(res);
    try {
      const result = await handler(req, res, page);
      if ('redirect' in result) return res.redirect(303, result.redirect);
      res.status(result.status ?? 200).type('html').send(renderer.render(result.render, page, result.data));
    } catch (error) {
      if (!(error instanceof HttpProblem) || error.status >= 500) return next(error);
      const problem = { title: error.title, detail: error.detail };
      res.status(error.status).type('html').send(renderer.render('problem', page, { title: error.title, status: error.status, problem }));
    }
  };
}

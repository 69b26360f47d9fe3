import type { z } from 'zod';

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: { path: string; message: string }[];
  [extension: string]: unknown;
}

/** An RFC 9457 problem: the only shape in which the API reports an error. */
export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: ProblemBody['errors'],
    /** RFC 9457 extension members, e.g. the per-item results of a batch. */
    readonly extensions?: Record<string, unknown>,
  ) {
    super(detail ?? title);
    this.name = 'HttpProblem';
  }

  toBody(): ProblemBody {
    const body: ProblemBody = { type: `/problems/${this.code}`, title: this.title, status: this.status, ...this.extensions };
    if (this.detail) body.detail = this.detail;
    if (this.errors) body.errors = this.errors;
    return body;
  }

  static validation(error: z.ZodError, what: string): HttpProblem {
    const errors = error.issues.map((issue) => ({ path: issue.path.join('.') || '(body)', message: issue.message }));
    const detail = `${what} is invalid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`;
    return new HttpProblem(400, 'validation-failed', 'Your request is not valid.', detail, errors);
  }

  /** A 400 about one field of the request, shaped as validation() shapes zod's issues. */
  static invalidField(path: readonly (string | number)[], message: string): HttpProblem {
    const errors = [{ path: path.join('.'), message }];
    return new HttpProblem(400, 'validation-failed', 'Your request is not valid.', `${errors[0]!.path}: ${message}`, errors);
  }

  static notFound(what: string): HttpProblem {
    return new HttpProblem(404, 'not-found', 'Not found.', `${what} does not exist.`);
  }
}

/** What a handler returns; the Express adapter turns it into a response. */
export interface HandlerResult {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

import { z } from 'zod';
import { isUuid } from '../lib/ids';
import { HttpProblem } from './problem';

/** Opaque keyset cursors: base64url of a small JSON object. Clients pass them back unchanged. */
export function encodeCursor(position: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

export function decodeCursor<T>(cursor: string, valid: (position: unknown) => position is T): T {
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    position = undefined;
  }
  if (!valid(position)) throw new HttpProblem(400, 'invalid-cursor', 'The cursor is not valid.', 'pass next_cursor from a previous page unchanged');
  return position;
}

/** `?limit=&cursor=` of a plain paged list. */
export const pageQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(100).default(20), cursor: z.string().max(200).optional() }).strict();

/** A position `{id}` where the id is a UUID (missions, webhooks, keys). */
export const isIdPosition = (value: unknown): value is { id: string } => {
  const id = (value as { id?: unknown } | null)?.id;
  return typeof id === 'string' && isUuid(id);
};

/** A page from `rows` read with `limit + 1`: at most `limit` of them, and a cursor after the last when more follow. */
export function keysetPage<T>(rows: readonly T[], limit: number, position: (last: T) => Record<string, string | number>): { data: T[]; next_cursor: string | null } {
  const data = rows.slice(0, limit);
  return { data, next_cursor: rows.length > limit ? encodeCursor(position(data.at(-1)!)) : null };
}

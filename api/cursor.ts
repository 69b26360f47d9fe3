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

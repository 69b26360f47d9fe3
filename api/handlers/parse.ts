import type { z } from 'zod';
import { HttpProblem } from '../problem';

/** The input as the schema reads it, or a `400` problem naming each field that is wrong in `what`. */
export function parse<T>(schema: z.ZodType<T>, input: unknown, what: string): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw HttpProblem.validation(parsed.error, what);
  return parsed.data;
}

import pino, { type Logger } from 'pino';

export type { Logger };

/** A pino logger; `redact` rewrites each finished line (lib/secrets.ts keeps secrets out of logs with it). */
export function createLogger(level: string, name: string, redact?: (line: string) => string, destination?: pino.DestinationStream): Logger {
  return pino({ level, name, base: { pid: process.pid }, ...(redact && { hooks: { streamWrite: redact } }) }, destination);
}

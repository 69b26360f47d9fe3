/** The CLI's exit codes, documented in `missions --help` and the README. */
export const EXIT = {
  /** Every mission succeeded (or the command did what it was asked). */
  ok: 0,
  /** Some mission failed, timed out or was cancelled (batch diff: something that passed before broke). */
  missionsFailed: 1,
  /** Bad usage or invalid input: nothing was submitted. */
  usage: 2,
  /** The server could not be reached, or refused (authentication, rate limit after retries, its own error). */
  server: 3,
  /** Gave up waiting (--timeout). */
  timeout: 4,
} as const;

export const EXIT_HELP = `Exit codes:
  0  every mission succeeded (or the command did what it was asked)
  1  some mission failed, timed out or was cancelled; for batch diff, an item that passed before broke
  2  bad usage or invalid input (the item and field are named); nothing was submitted
  3  the server could not be reached, or refused (authentication, rate limit after retries, a server error)
  4  gave up waiting (--timeout)`;

/** An error the CLI reports as one plain line and exits with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

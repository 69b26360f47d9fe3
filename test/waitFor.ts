const POLL_MS = 25;

/**
 * Polls `condition` until it holds: a test waits for the event it needs (a row, a metric, a container gone),
 * never for a fixed time. `timeoutMs` only decides how soon a test that fails says so; no test passes by it.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > until) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

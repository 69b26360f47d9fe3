import type { ChildProcess } from 'node:child_process';
import { createTestEnv, removeSandboxes, sandboxesOf, type TestEnv } from './harness';
import { forkWorker, stopProcess } from './processes';
import { waitFor } from './waitFor';

// A worker restarted under the WORKER_ID of one that died (a StatefulSet pod, a systemd unit) cleans up after it.
let env: TestEnv;
let worker: ChildProcess | undefined;
const id = `identity-${process.pid}`;

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  if (worker) await stopProcess(worker);
  await removeSandboxes(id);
  await env?.cleanup();
});

test("a worker started with the id of one that was SIGKILLed removes the sandboxes of its earlier life at once", async () => {
  worker = forkWorker(env.config, id, { SANDBOX_POOL_SIZE: '2' });
  await waitFor(async () => (await sandboxesOf(id)).filter((container) => container.State === 'running').length === 2, 60_000, 'two warm sandboxes');
  const earlierLife = (await sandboxesOf(id)).map((container) => container.Id);

  await stopProcess(worker, 'SIGKILL');
  expect((await sandboxesOf(id)).map((container) => container.Id).sort()).toEqual([...earlierLife].sort());

  worker = forkWorker(env.config, id, { SANDBOX_POOL_SIZE: '2' });

  // Its heartbeat key may still be alive, but its own id is no other worker's: it removes them as it starts.
  await waitFor(async () => (await sandboxesOf(id)).every((container) => !earlierLife.includes(container.Id)), 20_000, 'earlier sandboxes removed');
  await waitFor(async () => (await sandboxesOf(id)).filter((container) => container.State === 'running').length === 2, 60_000, 'a new warm pool');
});

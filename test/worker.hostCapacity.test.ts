import { startWorker } from '../apps/worker';
import { hostCapacity } from '../sandbox/hostCapacity';
import { capturedLogger, createTestEnv, type TestEnv } from './harness';

// A worker told to run far more missions than its host can hold sandboxes for holds what the host has room for
// (each sandbox ~50 threads against kernel.pid_max, and memory): past it a start fails every fork on the host.
let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(() => env?.cleanup());

test('WORKER_CONCURRENCY of 100,000 is held to the sandboxes the host has room for, and the worker says so', async () => {
  const captured = capturedLogger();
  const worker = await startWorker({ ...env.config, WORKER_CONCURRENCY: 100_000, SANDBOX_POOL_SIZE: 0 }, captured.logger, env.owner);
  try {
    const room = hostCapacity();
    expect(worker.pool.limit).toBeLessThan(100_000);
    // What the host had room for at start, give or take what started or ended on it since.
    expect(Math.abs(worker.pool.limit - room.sandboxes)).toBeLessThanOrEqual(room.sandboxes * 0.1 + 2);
    expect(captured.lines.some((line) => /at most \d+ sandboxes at once, by the host's free (threads|memory)/.test(line))).toBe(true);
  } finally {
    await worker.close();
  }
});

test('SANDBOX_MAX bounds the sandboxes below what the host could hold', async () => {
  const worker = await startWorker({ ...env.config, WORKER_CONCURRENCY: 50, SANDBOX_MAX: 3 }, capturedLogger().logger, env.owner);
  try {
    expect(worker.pool.limit).toBe(3);
  } finally {
    await worker.close();
  }
});

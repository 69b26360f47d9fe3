import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { createTestEnv, type TestEnv } from './harness';
import { forkApi, stopProcess } from './processes';
import { freePort } from './services';
import { waitFor } from './waitFor';

// The results file of a 10,000-mission batch, from an API process of its own whose memory is watched while a
// client reads slowly. API only: the missions stay queued, and their results are written here, 30 KB each, so
// the file (300 MB) is far larger than the API's memory may grow: by half of it at most. An API that held the
// file would grow by more than all of it; streaming, it grows by the garbage its collector has not yet
// collected (measured here: 56 MB for a 100 MB file, 68 MB for this one).
const MISSIONS = 10_000;
const RESULT_BYTES = 30_000;
const ALLOWED_GROWTH = (MISSIONS * RESULT_BYTES) / 2;
// The client stops reading until the API has gone quiet (under this much CPU per this window): an API that did
// not wait for it would first read the rest of the file from Postgres into memory, however long that takes.
const QUIET_WINDOW_MS = 500;
const QUIET_CPU_MS = 25;

let env: TestEnv;
let api: ChildProcess;
let base: string;
beforeAll(async () => {
  env = await createTestEnv();
  const port = await freePort();
  api = forkApi(env.config, port, { BATCH_MAX: String(MISSIONS) });
  base = `http://127.0.0.1:${port}`;
  await waitFor(() => fetch(`${base}/healthz`).then((response) => response.ok, () => false), 60_000, 'the API up');
});
afterAll(async () => {
  if (api) await stopProcess(api);
  await env?.cleanup();
});

/** CPU time the process has used (user and system), from /proc, in milliseconds (Linux counts 100 ticks a second). */
const cpuMsOf = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

/** Waits until the process has used less than QUIET_CPU_MS of CPU over the last QUIET_WINDOW_MS. */
async function quiet(pid: number): Promise<void> {
  const samples: [at: number, cpu: number][] = [];
  await waitFor(() => {
    const now = Date.now();
    samples.push([now, cpuMsOf(pid)]);
    const then = samples.filter(([at]) => at <= now - QUIET_WINDOW_MS).at(-1);
    return then !== undefined && samples.at(-1)![1] - then[1] < QUIET_CPU_MS;
  }, 120_000, 'the API quiet while the client stalls');
}

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const headers = () => ({ authorization: `Bearer ${env.config.ADMIN_API_KEY}`, 'content-type': 'application/json' });

test('a 10,000-mission batch is exported whole, in submission order with its custom ids, in constant memory while the client reads slowly', async () => {
  const missions = Array.from({ length: MISSIONS }, (_, i) => ({ custom_id: `item-${i}`, goal: `item ${i}`, plan: [{ tool: 'shell', input: { command: 'true' } }] }));
  const submitted = await fetch(`${base}/v1/missions/batch`, { method: 'POST', headers: headers(), body: JSON.stringify({ missions }) });
  expect(submitted.status).toBe(202);
  const { batch_id: batchId } = (await submitted.json()) as { batch_id: string };
  await env.db.raw(`update missions set result = to_jsonb(repeat('x', ?)) where batch_id = ?`, [RESULT_BYTES, batchId]);
  // The export code path warmed up once, so what is measured next is the file, not first use.
  await (await fetch(`${base}/v1/batches/${batchId}/results?status=failed`, { headers: headers() })).text();
  const before = rssOf(api.pid!);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(api.pid!))), 20);

  // A plain HTTP client, paused: it reads nothing from the socket until resumed.
  const response = await new Promise<IncomingMessage>((resolve) => get(`${base}/v1/batches/${batchId}/results`, { headers: headers() }, resolve));
  response.pause();
  await quiet(api.pid!);
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  clearInterval(sampler);

  const lines = Buffer.concat(chunks).toString('utf8').split('\n');
  expect(lines.pop()).toBe('');
  expect(lines).toHaveLength(MISSIONS);
  const parsed = lines.map((line) => JSON.parse(line) as { custom_id: string; item: number; status: string; result: string });
  expect(parsed.every((line, i) => line.custom_id === `item-${i}` && line.item === i && line.status === 'queued' && line.result.length === RESULT_BYTES)).toBe(true);
  expect(peak - before).toBeLessThan(ALLOWED_GROWTH);
});

import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startApi, type RunningApi } from '../apps/api';
import { startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { createTestEnv, removeSandboxes, testLogger, type TestEnv } from './harness';
import { forkWorker, stopProcess } from './processes';
import { waitFor } from './waitFor';

// A worker holding one sandbox for two missions lets the first one's sandbox go (its files saved) so the second
// can run; the first then takes one step more, and its worker is SIGKILLed. Another worker goes on with the files
// of the last save, and its model is told which step's changes may be missing.
let env: TestEnv;
let api: RunningApi;
let llm: FakeLlm;
const workers: [string, ChildProcess][] = [];

beforeAll(async () => {
  llm = await startFakeLlm();
  env = await createTestEnv({ LLM_BASE_URL: llm.baseUrl, LLM_MODELS: 'm' });
  api = await startApi(env.config, testLogger());
});

afterAll(async () => {
  for (const [id, child] of workers) await stopProcess(child).then(() => removeSandboxes(id));
  await api?.close();
  await env?.cleanup();
  await llm?.close();
});

function startWorker(id: string): ChildProcess {
  const child = forkWorker(env.config, id, {
    LLM_BASE_URL: llm.baseUrl,
    LLM_MODELS: 'm',
    WORKER_CONCURRENCY: '2',
    SANDBOX_MAX: '1',
    SANDBOX_POOL_SIZE: '0',
    SANDBOX_LET_GO_AFTER_S: '0.2',
    WORKER_LOCK_MS: '4000',
    WORKER_STALLED_CHECK_MS: '1000',
  });
  workers.push([id, child]);
  return child;
}

async function submit(goal: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${api.port}/v1/missions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.config.ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ goal, policy: 'openai' }),
  });
  return ((await response.json()) as { id: string }).id;
}

const missionRow = (id: string) => env.db('missions').where({ id }).first('status', 'step_count', 'workers');

test("a mission taken over after its worker was SIGKILLed goes on with its last saved files; the model is told what may be missing", async () => {
  let pusherDone!: () => void;
  let workerKilled!: () => void;
  const gates = { pusherDone: new Promise<void>((resolve) => (pusherDone = resolve)), workerKilled: new Promise<void>((resolve) => (workerKilled = resolve)) };
  llm.answerWith(async (request) => {
    const goal = request.messages[1]?.content;
    const steps = request.messages.filter((message) => message.role === 'assistant').length;
    if (goal === 'Mission: pusher') return steps === 0 ? toolCall('shell', { command: 'echo pushed' }) : toolCall('finish', { result: 'pushed' });
    if (steps === 0) return toolCall('shell', { command: "printf 'saved before' > kept.txt && chmod 604 kept.txt" });
    if (steps === 1) return gates.pusherDone.then(() => toolCall('shell', { command: "printf 'after the save' > unsaved.txt" }));
    if (steps === 2) return gates.workerKilled.then(() => toolCall('shell', { command: "cat kept.txt && stat -c ' %a' kept.txt && ls" }));
    return toolCall('finish', { result: 'done' });
  });
  const doomed = `${env.owner}-doomed`;
  const doomedWorker = startWorker(doomed);
  const keeper = await submit('keeper');
  await waitFor(async () => (await missionRow(keeper))?.step_count === 1, 60_000, "the keeper's first step");
  const pusher = await submit('pusher');
  await waitFor(async () => (await missionRow(pusher))?.status === 'succeeded', 60_000, 'the pusher, run in the sandbox the keeper let go');
  expect(await env.db('saved_workspaces').where({ mission_id: keeper }).first('after_seq')).toEqual({ after_seq: 1 });
  pusherDone();
  await waitFor(async () => (await missionRow(keeper))?.step_count === 2, 60_000, "the keeper's second step, after the save");
  doomedWorker.kill('SIGKILL');
  await once(doomedWorker, 'exit');
  workerKilled();

  const survivor = `${env.owner}-survivor`;
  startWorker(survivor);
  // The survivor takes the mission once its job lock (4 s) has lapsed and a stalled check (1 s) sees it.
  await waitFor(async () => (await missionRow(keeper))?.status === 'succeeded', 90_000, 'the keeper, finished by the survivor');
  expect((await missionRow(keeper))!.workers).toEqual([doomed, survivor]);
  const checked = await env.db('steps').where({ mission_id: keeper, seq: 3 }).first('observation');
  expect(checked.observation.stdout).toBe('saved before 604\nkept.txt\n');
  const told = llm.requests.filter((request) => request.messages.at(-1)?.content?.startsWith('This mission continues in a new sandbox'));
  expect(told.map((request) => request.messages.at(-1)!.content)).toEqual([
    'This mission continues in a new sandbox with its files as they were after step 1: changes made by step 2 may be missing; check, and make them again if you need them.',
  ]);
}, 180_000);

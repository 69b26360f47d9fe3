import { renderMetrics } from '../lib/metrics';
import { startFakeLlm, toolCall, type FakeLlm } from './fakeLlm';
import { shell, usePlatform, type MissionJson } from './platform';
import { waitFor } from './waitFor';

// One sandbox for two missions: while one waits for its model, the other can run only if the first lets its
// sandbox go. Files of every kind are written before the wait and checked after it, in the new sandbox.
const LET_GO_AFTER_S = 0.2;
let llm: FakeLlm;
beforeAll(async () => {
  llm = await startFakeLlm();
});
afterAll(() => llm?.close());
const context = usePlatform({
  env: () => ({
    LLM_BASE_URL: llm.baseUrl,
    LLM_MODELS: 'm',
    WORKER_CONCURRENCY: '2',
    SANDBOX_MAX: '1',
    SANDBOX_POOL_SIZE: '0',
    SANDBOX_LET_GO_AFTER_S: String(LET_GO_AFTER_S),
  }),
});

const WRITE = [
  'mkdir -p d/e empty',
  "printf 'hello' > d/e/a.txt && chmod 640 d/e/a.txt && touch -d '2001-02-03 04:05:06' d/e/a.txt",
  "printf '#!/bin/sh\\necho ran\\n' > run.sh && chmod 750 run.sh",
  'ln -s d/e/a.txt link && ln -s /etc/passwd outside',
  'head -c 200000 /dev/urandom > bin && sha256sum bin > bin.sum',
].join(' && ');
const CHECK = "stat -c '%a %s %Y %n' d/e/a.txt run.sh && readlink link outside && sh run.sh && sha256sum -c bin.sum && ls -A | tr '\\n' ' '";

/** Which mission a request is for, and how many steps it has taken. */
const missionOf = (request: FakeLlm['requests'][number]) => ({
  goal: request.messages[1]?.content?.replace('Mission: ', ''),
  steps: request.messages.filter((message) => message.role === 'assistant').length,
});

/**
 * The model runs `first` for the mission of goal `keeper`, then, once released, `then`, and finishes; any other
 * mission runs one step and finishes. Returns what releases the keeper.
 */
function script(keeper: string, first: string, then: string): () => void {
  let release!: () => void;
  const mayGoOn = new Promise<void>((resolve) => (release = resolve));
  llm.answerWith(async (request) => {
    const { goal, steps } = missionOf(request);
    if (goal !== keeper) return steps === 0 ? toolCall('shell', { command: 'echo other ran' }) : toolCall('finish', { result: 'other done' });
    if (steps === 0) return toolCall('shell', { command: first });
    if (steps === 1) return mayGoOn.then(() => toolCall('shell', { command: then }));
    return toolCall('finish', { result: 'kept' });
  });
  return release;
}

async function submit(goal: string, extra: object = {}): Promise<string> {
  const response = await context.platform.request('POST', '/v1/missions', { goal, policy: 'openai', ...extra });
  if (response.status !== 201) throw new Error(`refused: ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

const stdoutOf = (mission: MissionJson, seq: number) => mission.steps.find((step) => step.seq === seq)?.observation?.stdout ?? '';
const metric = async (event: string) => Number(new RegExp(`^mission_workspaces_total\\{event="${event}"\\} (\\d+)$`, 'm').exec(await renderMetrics(context.platform.worker!.metrics))?.[1]);

test('a mission waiting for its model lets its sandbox go to a mission that waits for one, and gets its files back exactly', async () => {
  const releaseKeeper = script('keeper', WRITE, CHECK);
  const keeper = await submit('keeper');
  await waitFor(async () => (await context.env.db('steps').where({ mission_id: keeper })).length === 1, 30_000, "the keeper's first step");
  // The other mission can get the one sandbox only once the keeper, waiting for its model, lets it go.
  const other = await context.platform.waitForMission(await submit('other'), 60_000);
  expect(other.status).toBe('succeeded');
  expect(stdoutOf(other, 1)).toBe('other ran\n');
  const saved = await context.env.db('saved_workspaces').where({ mission_id: keeper }).first('after_seq', 'bytes');
  expect(saved).toMatchObject({ after_seq: 1 });
  releaseKeeper();

  const mission = await context.platform.waitForMission(keeper, 60_000);
  expect(mission.status).toBe('succeeded');
  const lines = stdoutOf(mission, 2).split('\n');
  // Bytes, modes and times exact; links as links, one of them pointing out of /workspace as it did.
  expect(lines.slice(0, 6)).toEqual(['640 5 981173106 d/e/a.txt', expect.stringMatching(/^750 19 \d+ run\.sh$/), 'd/e/a.txt', '/etc/passwd', 'ran', 'bin: OK']);
  expect(lines[6]!.split(' ').filter(Boolean).sort()).toEqual(['bin', 'bin.sum', 'd', 'empty', 'link', 'outside', 'run.sh']);
  // The model was not told anything went missing, and the mission's saved files went when it ended.
  expect(llm.requests.some((request) => request.messages.some((message) => message.content?.includes('continues in a new sandbox')))).toBe(false);
  expect(await context.env.db('saved_workspaces').where({ mission_id: keeper })).toHaveLength(0);
  expect(await metric('let_go')).toBeGreaterThanOrEqual(1);
  expect(await metric('restored')).toBeGreaterThanOrEqual(1);
}, 120_000);

test('a mission whose files cannot be saved keeps its sandbox through the wait; the other mission waits for it', async () => {
  const keptBefore = await metric('kept');
  const releaseKeeper = script('unsaveable', "printf 'private' > sealed && chmod 000 sealed", 'chmod 600 sealed && cat sealed');
  const keeper = await submit('unsaveable');
  await waitFor(async () => (await context.env.db('steps').where({ mission_id: keeper })).length === 1, 30_000, "the keeper's first step");
  const other = await submit('other-2');
  // tar cannot read a file of mode 000 as the agent: the save fails and the sandbox stays with its mission.
  await waitFor(async () => (await metric('kept')) > keptBefore, 30_000, 'a save that failed');
  expect((await context.env.db('missions').where({ id: other }).first('status')).status).not.toBe('succeeded');
  releaseKeeper();
  const [kept, waited] = [await context.platform.waitForMission(keeper, 60_000), await context.platform.waitForMission(other, 60_000)];
  expect(kept.status).toBe('succeeded');
  expect(stdoutOf(kept, 2)).toBe('private');
  expect(waited.status).toBe('succeeded');
}, 120_000);

test('a mission that asks to keep its sandbox keeps its processes through a model wait', async () => {
  const releaseKeeper = script('keeps processes', 'sleep 600 > /dev/null 2>&1 & echo $! > pid', 'kill -0 $(cat pid) && echo alive');
  const letGoBefore = await metric('let_go');
  const keeper = await submit('keeps processes', { keep_sandbox: true });
  await waitFor(async () => (await context.env.db('steps').where({ mission_id: keeper })).length === 1, 30_000, "the keeper's first step");
  const other = await submit('other-3');
  // The other mission waits for the one sandbox; past the grace (plus 0.5 s for a loaded machine) it still does.
  await waitFor(() => context.platform.worker!.pool.stats().waiting === 1, 30_000, 'the other mission waiting for a sandbox');
  await new Promise((resolve) => setTimeout(resolve, LET_GO_AFTER_S * 1_000 + 500));
  expect(context.platform.worker!.pool.stats().waiting).toBe(1);
  releaseKeeper();
  const kept = await context.platform.waitForMission(keeper, 60_000);
  expect(kept.status).toBe('succeeded');
  expect(stdoutOf(kept, 2)).toBe('alive\n');
  expect((await context.platform.waitForMission(other, 60_000)).status).toBe('succeeded');
  expect(await metric('let_go')).toBe(letGoBefore);
}, 120_000);

test('an approval wait keeps the files: the approved step runs in a new sandbox that has them', async () => {
  const plan = [shell("printf 'before approval' > note.txt && chmod 604 note.txt"), shell("cat note.txt && stat -c ' %a' note.txt")];
  const created = await context.platform.request('POST', '/v1/missions', { goal: 'approved later', plan, require_approval: ['shell'] });
  const { id } = (await created.json()) as { id: string };
  const approve = async (seq: number) => {
    await waitFor(async () => (await context.env.db('missions').where({ id }).first('status', 'step_count')).step_count === seq - 1, 30_000, `step ${seq} waits`);
    await waitFor(async () => (await context.env.db('missions').where({ id }).first('status')).status === 'waiting_approval', 30_000, `step ${seq} waits`);
    const response = await context.platform.request('POST', `/v1/missions/${id}/approvals`, { decision: 'approve' });
    expect(response.status).toBe(200);
  };
  await approve(1);
  await approve(2);
  const mission = await context.platform.waitForMission(id, 60_000);
  expect(mission.status).toBe('succeeded');
  expect(stdoutOf(mission, 2)).toBe('before approval 604\n');
  expect(mission.steps[1]!.thought ?? '').not.toContain('gone');
}, 120_000);

import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { problemLine, type ApiClient } from './client';
import { CliError, EXIT } from './exitCodes';
import { writeReport } from './report';
import { junitReport, outcomeOf, type MissionResult } from './junit';
import { readMissionFile } from './missionFile';
import { attachDirectories } from './taskFiles';
import { finishedOf, progressReporter, type Counts } from './progress';
import { usageLine, type Usage } from './usage';
import { scoresLine } from './scores';
import type { ScoreStatistics } from '../scoring/metrics';

export interface SubmitOptions {
  wait: boolean;
  json: boolean;
  junit?: string;
  /** With --wait: where to write each batch's HTML report (a second batch's gets -2 before the extension). */
  report?: string;
  /** Seconds to wait at most (with --wait). */
  timeout?: number;
  failFast: boolean;
  force: boolean;
  batchSize: number;
  /** Seconds between progress lines when not on a terminal. */
  interval: number;
  /** A directory every mission starts with in /workspace (packed and uploaded once). */
  files?: string;
  /** Runs of each mission (1 when not given), as that many missions of one item. */
  epochs?: number;
}

interface BatchAnswer {
  batch_id: string;
  /** `ids`: each epoch's mission, with epochs. */
  items: { index: number; id?: string; ids?: string[]; error?: unknown }[];
}

interface MissionView extends MissionResult {
  result: unknown;
  /** The next attempt of its batch item, once the item was retried. */
  superseded_by?: string | null;
  step_count: number;
}

type StepView = { observation: { stdout?: string; stderr?: string } | null };

/** A mission the server accepted: the line it came from and, with epochs, which run of it. */
interface Accepted {
  line: number;
  id: string;
  epoch?: number;
}

const OPEN = ['queued', 'running', 'waiting_approval'];
const TAIL_CHARS = 1_000;

/**
 * `missions submit FILE`: the file's missions in batches of --batch-size, each batch under an Idempotency-Key made
 * of the file's hash and the batch's position, so submitting the same file again creates nothing (--force does).
 * With --wait, follows the batches to their end and reports each mission; returns the exit code.
 */
export async function submit(client: ApiClient, path: string, options: SubmitOptions): Promise<number> {
  const file = readMissionFile(path);
  const uploads = await attachDirectories(client, file, options.files);
  if (uploads.length > 0) file.contentHash = createHash('sha256').update(file.contentHash).update(uploads.join()).digest('hex');
  const started = Date.now();
  const nonce = options.force ? `-${randomBytes(6).toString('hex')}` : '';
  const epochs = options.epochs ?? 1;
  const accepted: Accepted[] = [];
  const rejected: { line: number; problem: string }[] = [];
  const batches: string[] = [];
  // --batch-size counts missions: with epochs, a batch holds that many runs.
  const perBatch = Math.max(1, Math.floor(options.batchSize / epochs));
  for (let at = 0; at < file.missions.length; at += perBatch) {
    const chunk = file.missions.slice(at, at + perBatch);
    const key = `missions-cli-${file.contentHash.slice(0, 40)}-${at / perBatch}${epochs > 1 ? `x${epochs}` : ''}${nonce}`;
    const answer = await submitBatch(client, { missions: chunk.map((item) => item.mission), ...(epochs > 1 && { epochs }) }, key);
    batches.push(answer.batch_id);
    for (const item of answer.items) {
      const line = chunk[item.index]!.line;
      if (!item.id) rejected.push({ line, problem: problemLine(item.error) });
      else if (!item.ids) accepted.push({ line, id: item.id });
      else item.ids.forEach((id, at) => accepted.push({ line, id, epoch: at + 1 }));
    }
  }
  for (const { line, problem } of rejected) process.stderr.write(`missions: ${file.name} line ${line}: refused: ${problem}\n`);
  const runs = epochs > 1 ? ` (${accepted.length} runs of ${epochs} epochs)` : '';
  if (!options.json) process.stderr.write(`submitted ${file.missions.length - rejected.length} of ${file.missions.length} missions${runs} from ${file.name} in ${batches.length} batch(es): ${batches.join(', ')}\n`);
  const inputExit = rejected.length > 0 ? EXIT.usage : EXIT.ok;
  if (!options.wait) {
    if (options.json) process.stdout.write(`${JSON.stringify({ batches, missions: accepted, rejected }, null, 2)}\n`);
    return inputExit;
  }

  const timedOut = await follow(client, batches, accepted.length, options);
  const results = await collect(client, batches, accepted);
  const seconds = (Date.now() - started) / 1000;
  if (options.junit) writeFileSync(options.junit, junitReport(`missions from ${file.name}`, results, seconds));
  const reportPath = (at: number) => (at === 0 ? options.report! : options.report!.replace(/(\.html?)?$/i, (extension) => `-${at + 1}${extension}`));
  if (options.report) for (const [at, batchId] of batches.entries()) await writeReport(client, batchId, reportPath(at));
  report(results, options.json, timedOut);
  if (!options.json) {
    for (const batchId of batches) {
      const { scores } = await client.expect<{ scores: ScoreStatistics | null }>('GET', `/v1/batches/${batchId}`);
      if (scores) process.stdout.write(`scores of ${batchId}: ${scoresLine(scores)}\n`);
    }
    process.stdout.write(`usage: ${usageLine(await usageOf(client, batches))}\n`);
  }
  if (timedOut) return EXIT.timeout;
  if (results.some((result) => outcomeOf(result) !== 'passed')) return EXIT.missionsFailed;
  return inputExit;
}

async function submitBatch(client: ApiClient, body: { missions: object[]; epochs?: number }, key: string): Promise<BatchAnswer> {
  // 409: the same key is in flight (an earlier run of this very command, interrupted): wait for its answer.
  for (let attempt = 0; ; attempt++) {
    const answer = await client.request<BatchAnswer>('POST', '/v1/missions/batch', body, { 'idempotency-key': key });
    if (answer.status === 202) return answer.body;
    if (answer.status === 409 && attempt < 10) {
      await sleep(1_000);
      continue;
    }
    const hint = answer.status === 422 ? ' (submit with --force to send it again as new missions)' : '';
    throw new CliError(`the server refused the batch: ${answer.status} ${problemLine(answer.body)}${hint}`, answer.status >= 500 || answer.status === 401 || answer.status === 403 ? EXIT.server : EXIT.usage);
  }
}

/** Waits for every mission of the batches to end, or for the timeout; returns whether it timed out. */
export async function follow(client: ApiClient, batches: readonly string[], total: number, options: Pick<SubmitOptions, 'interval' | 'timeout' | 'failFast'>): Promise<boolean> {
  const progress = progressReporter(total, process.stderr, options.interval * 1_000);
  const until = options.timeout === undefined ? Infinity : Date.now() + options.timeout * 1_000;
  let cancelled = false;
  try {
    for (;;) {
      const counts = await countsOf(client, batches);
      progress.update(counts);
      if (finishedOf(counts) >= total) return false;
      if (options.failFast && !cancelled && counts.failed + counts.timed_out > 0) {
        cancelled = true;
        await cancelOpen(client, batches);
        continue;
      }
      if (Date.now() >= until) return true;
      await sleep(Math.min(1_000, Math.max(0, until - Date.now())));
    }
  } finally {
    progress.stop();
  }
}

/** What the batches' model calls used, every attempt counted; the cost is unknown if any was unpriced. */
async function usageOf(client: ApiClient, batches: readonly string[]): Promise<Usage> {
  const total = { input_tokens: 0, output_tokens: 0, cost_usd: 0 as number | null };
  for (const batch of batches) {
    const { usage } = await client.expect<{ usage: Usage }>('GET', `/v1/batches/${batch}`);
    total.input_tokens += usage.input_tokens;
    total.output_tokens += usage.output_tokens;
    total.cost_usd = total.cost_usd === null || usage.cost_usd === null ? null : total.cost_usd + usage.cost_usd;
  }
  return total;
}

async function countsOf(client: ApiClient, batches: readonly string[]): Promise<Counts> {
  const sum: Counts = { queued: 0, running: 0, waiting_approval: 0, succeeded: 0, failed: 0, cancelled: 0, timed_out: 0 };
  for (const batch of batches) {
    const { counts } = await client.expect<{ counts: Counts }>('GET', `/v1/batches/${batch}`);
    for (const status of Object.keys(sum) as (keyof Counts)[]) sum[status] += counts[status] ?? 0;
  }
  return sum;
}

/** --fail-fast: cancels every mission of the batches that has not ended. */
async function cancelOpen(client: ApiClient, batches: readonly string[]): Promise<void> {
  for (const batch of batches) {
    for await (const mission of missionsOf(client, batch)) {
      if (OPEN.includes(mission.status)) await client.request('POST', `/v1/missions/${mission.id}/cancel`);
    }
  }
}

function missionsOf(client: ApiClient, batch: string): AsyncGenerator<MissionView> {
  return client.pages<MissionView>(`/v1/missions?batch_id=${batch}&limit=500`);
}

/**
 * Every accepted mission's item as it is now (its latest attempt, when the batch was retried since), in the
 * file's order, with the tail of the last output of those that failed.
 */
async function collect(client: ApiClient, batches: readonly string[], accepted: readonly Accepted[]): Promise<(MissionResult & { line: number; result: unknown })[]> {
  const byId = new Map<string, MissionView>();
  for (const batch of batches) for await (const mission of missionsOf(client, batch)) byId.set(mission.id, mission);
  const results = [];
  for (const { line, id: submitted, epoch } of accepted) {
    let mission = byId.get(submitted)!;
    while (mission.superseded_by) mission = byId.get(mission.superseded_by)!;
    const { id } = mission;
    let lastOutput: string | undefined;
    if (mission.status === 'failed' || mission.status === 'timed_out') {
      const last = await client.expect<{ data: StepView[] }>('GET', `/v1/missions/${id}/steps?after=${Math.max(0, mission.step_count - 1)}&limit=1`);
      const observation = last.data[0]?.observation;
      lastOutput = [observation?.stdout, observation?.stderr].filter(Boolean).join('\n').slice(-TAIL_CHARS) || undefined;
    }
    const { goal, status, metadata, error, result, duration_ms: durationMs, custom_id: customId, usage, score } = mission;
    results.push({ line, id, goal, status, metadata, error, result, duration_ms: durationMs, lastOutput, custom_id: customId, usage, epoch, score });
  }
  return results;
}

function report(results: readonly (MissionResult & { line: number; result: unknown })[], json: boolean, timedOut: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return;
  }
  const counts = new Map<string, number>();
  for (const result of results) counts.set(result.status, (counts.get(result.status) ?? 0) + 1);
  for (const result of results.filter((one) => outcomeOf(one) !== 'passed')) {
    const said = (text: string) => text.trim().split('\n').join(' · ').slice(0, 160);
    const why = result.score
      ? `scored ${result.score.value ?? 'nothing'}: ${said(result.score.error ?? result.score.explanation ?? 'below its pass mark')}`
      : result.error
        ? `${result.error.code}: ${result.error.message}`
        : 'not finished';
    const epoch = result.epoch === undefined ? '' : ` epoch ${result.epoch}`;
    process.stdout.write(`${result.status.padEnd(10)} line ${result.line}${epoch} ${result.id} ${result.goal.slice(0, 60)} — ${why}\n`);
  }
  const summary = [...counts].map(([status, count]) => `${count} ${status}`).join(', ');
  process.stdout.write(`${results.length} missions: ${summary}${timedOut ? ' (stopped waiting at --timeout)' : ''}\n`);
}

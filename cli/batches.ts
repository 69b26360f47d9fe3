import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { artifactFolder, downloadArtifacts } from './artifacts';
import { once } from 'node:events';
import type { ApiClient } from './client';
import { EXIT } from './exitCodes';
import { writeReport } from './report';
import { follow } from './submit';
import { usageLine, type Usage } from './usage';
import { json, out } from './output';
import type { Difference } from '../scoring/pairedDifference';
import type { ScoreStatistics } from '../scoring/metrics';
import { differenceLine, fixed, scoresLine } from './scores';

interface Batch {
  id: string;
  status: string;
  items: number;
  attempts: number;
  counts: Record<string, number>;
  usage: Usage;
  duration_ms: { p50: number; p95: number } | null;
  token_limit: number | null;
  ended_at: string | null;
  epochs: number;
  scores: ScoreStatistics | null;
}

interface ComparedItem {
  custom_id: string;
  change: string;
  here: { mission_id: string; status: string; error: { code: string; message: string } | null; epochs: number; passed: number; score: number | null; scored: boolean } | null;
  there: { mission_id: string; status: string; epochs: number; passed: number; score: number | null; scored: boolean } | null;
}

/** `missions batch ...`: a batch's summary, results file, cancel, retry of its failures, and comparison with another. */
export function batchCommands(client: ApiClient, asJson: boolean) {
  const get = (id: string) => client.expect<Batch>('GET', `/v1/batches/${id}`);

  const show = async (id: string): Promise<number> => {
    const batch = await get(id);
    if (asJson) {
      json(batch);
      return EXIT.ok;
    }
    const runs = batch.items * batch.epochs;
    out(`${batch.id}: ${batch.status}, ${batch.items} items${batch.epochs > 1 ? ` × ${batch.epochs} epochs` : ''}${batch.attempts > runs ? ` (${batch.attempts} attempts)` : ''}`);
    out(Object.entries(batch.counts).filter(([, count]) => count > 0).map(([status, count]) => `${status} ${count}`).join(', ') || 'no items');
    out(`usage: ${usageLine(batch.usage)}${batch.token_limit === null ? '' : ` (limit ${batch.token_limit} tokens)`}`);
    if (batch.duration_ms) out(`duration: p50 ${batch.duration_ms.p50} ms, p95 ${batch.duration_ms.p95} ms`);
    if (batch.scores) out(`scores${batch.epochs > 1 ? ` (${batch.epochs} epochs)` : ''}: ${scoresLine(batch.scores)}`);
    return EXIT.ok;
  };

  return {
    show,

    /** The results file, as the API streams it, to stdout or a file. */
    async results(id: string, options: { output?: string; status?: string; allAttempts: boolean; artifacts?: string }): Promise<number> {
      const query = new URLSearchParams();
      if (options.status) query.set('status', options.status);
      if (options.allAttempts) query.set('attempts', 'all');
      const response = await client.stream(`/v1/batches/${id}/results${query.size > 0 ? `?${query}` : ''}`);
      const target = options.output ? createWriteStream(options.output) : process.stdout;
      // With --artifacts, the lines that list artifacts are noted as they pass, and their files fetched after.
      const withArtifacts: { mission_id: string; custom_id: string | null; epoch: number; attempt: number }[] = [];
      const decoder = new TextDecoder();
      let partial = '';
      for await (const chunk of response) {
        if (options.artifacts) {
          const lines = (partial + decoder.decode(chunk, { stream: true })).split('\n');
          partial = lines.pop()!;
          for (const line of lines.filter(Boolean)) {
            const parsed = JSON.parse(line) as { mission_id: string; custom_id: string | null; epoch: number; attempt: number; artifacts: unknown[] | null };
            if (parsed.artifacts?.length) withArtifacts.push(parsed);
          }
        }
        if (!target.write(chunk)) await once(target, 'drain');
      }
      if (options.output) await new Promise((resolve) => (target as ReturnType<typeof createWriteStream>).end(resolve));
      let files = 0;
      for (const line of withArtifacts) files += await downloadArtifacts(client, line.mission_id, join(options.artifacts!, artifactFolder(line, options.allAttempts)));
      if (options.artifacts) process.stderr.write(`missions: wrote ${files} artifacts of ${withArtifacts.length} missions under ${options.artifacts}\n`);
      return EXIT.ok;
    },

    /** A mission's artifacts, written under a directory. */
    async artifacts(missionId: string, options: { output: string }): Promise<number> {
      const files = await downloadArtifacts(client, missionId, options.output);
      if (asJson) json({ mission_id: missionId, files, output: options.output });
      else out(`wrote ${files} artifacts to ${options.output}`);
      return EXIT.ok;
    },

    /** The batch page and every mission's trace as one HTML file that opens offline (a CI artifact). */
    async report(id: string, options: { output: string }): Promise<number> {
      await writeReport(client, id, options.output);
      if (!asJson) out(`wrote ${options.output}`);
      else json({ batch_id: id, output: options.output });
      return EXIT.ok;
    },

    /** Cancels the batch's unfinished missions; exit 1 when it had already ended. */
    async cancel(id: string): Promise<number> {
      const batch = await client.cancel<Batch>(`/v1/batches/${id}/cancel`);
      if (!batch) return EXIT.missionsFailed;
      if (asJson) json(batch);
      else out(`${id} cancelling: ${Object.entries(batch.counts).filter(([, count]) => count > 0).map(([status, count]) => `${status} ${count}`).join(', ')}`);
      return EXIT.ok;
    },

    /**
     * A new attempt of each item that failed (or whose status or error code is named); with --wait, follows the
     * batch to its end and exits 1 if any item still has not succeeded.
     */
    async retry(id: string, options: { status?: string; errorCode?: string; wait: boolean; interval: number; timeout?: number }): Promise<number> {
      const body = {
        ...(options.status && { statuses: options.status.split(',') }),
        ...(options.errorCode && { error_codes: options.errorCode.split(',') }),
      };
      const retried = await client.expect<{ retried: number; items: { custom_id: string | null; mission_id: string; attempt: number }[] }>('POST', `/v1/batches/${id}/retry`, body);
      if (!options.wait) {
        if (asJson) json(retried);
        else out(`${retried.retried} item(s) of ${id} retried`);
        return EXIT.ok;
      }
      process.stderr.write(`${retried.retried} item(s) of ${id} retried\n`);
      const { items, epochs } = await get(id);
      const timedOut = await follow(client, [id], items * epochs, { interval: options.interval, timeout: options.timeout, failFast: false });
      const batch = await get(id);
      if (asJson) json(batch);
      else await show(id);
      if (timedOut) return EXIT.timeout;
      return batch.counts.succeeded === batch.items * batch.epochs ? EXIT.ok : EXIT.missionsFailed;
    },

    /**
     * How each item changed since another batch (an earlier run). Exit 1 with --fail-on any when anything that
     * passed there broke here; with --fail-on significant only when the mean score dropped beyond noise.
     */
    async diff(here: string, there: string, options: { failOn: 'any' | 'significant'; alpha: number }): Promise<number> {
      const query = new URLSearchParams({ with: there, alpha: String(options.alpha) });
      const compared = await client.expect<{ counts: Record<string, number>; difference: Difference | null; items: ComparedItem[] }>('GET', `/v1/batches/${here}/compare?${query}`);
      if (asJson) json(compared);
      else {
        for (const item of compared.items.filter((candidate) => candidate.change !== 'still_failing' || candidate.here?.score !== candidate.there?.score)) {
          const why = item.change === 'broken' && item.here?.error ? ` — ${item.here.error.code}: ${item.here.error.message}` : '';
          const scores = item.here && item.there && (item.here.epochs > 1 || item.here.scored || item.there.scored) ? ` ${fixed(item.there.score)} → ${fixed(item.here.score)}` : '';
          out(`${item.change.padEnd(13)} ${item.custom_id}${scores}${why}`);
        }
        out(Object.entries(compared.counts).map(([change, count]) => `${change.replace('_', ' ')} ${count}`).join(', '));
        if (compared.difference) out(differenceLine(compared.difference));
      }
      if (options.failOn === 'any') return compared.counts.broken! > 0 ? EXIT.missionsFailed : EXIT.ok;
      const dropped = compared.difference !== null && compared.difference.significant && compared.difference.mean < 0;
      return dropped ? EXIT.missionsFailed : EXIT.ok;
    },
  };
}

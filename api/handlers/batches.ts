import { z } from 'zod';
import type { BatchStore, BatchSummary } from '../../store/batches/batchStore';
import { RETRYABLE_STATUSES } from '../../store/batches/batchRetry';
import type { ResultsFilter } from '../../store/batches/batchResults';
import { CANCELLED } from '../../store/cancelMissions';
import { MISSION_STATUSES } from '../../jobs/mission';
import type { MissionSubmitter } from '../../store/submitter';
import { isUuid } from '../../lib/ids';
import type { Caller } from '../apiKeys';
import type { MissionHandlerDeps } from './missions';
import { HttpProblem } from '../problem';
import { iso } from '../views';
import { parse } from './parse';
import type { HandlerResult } from './result';

export interface BatchHandlerDeps {
  batches: BatchStore;
  submitter: MissionSubmitter;
  /** Tells workers to stop these cancelled missions. */
  announceCancel(missionIds: readonly string[]): Promise<void>;
  /** The checks of a new submission (handlers/admission.ts), which a retry passes too. */
  admit: MissionHandlerDeps['admit'];
}

const statusList = <T extends string>(statuses: readonly [T, ...T[]]) =>
  z
    .string()
    .transform((value) => value.split(','))
    .pipe(z.array(z.enum(statuses)).min(1));

export const resultsQuerySchema = z
  .object({ status: statusList(MISSION_STATUSES).optional(), attempts: z.enum(['latest', 'all']).default('latest') })
  .strict();

export const retrySchema = z
  .object({
    statuses: z.array(z.enum(RETRYABLE_STATUSES)).min(1).default(['failed', 'timed_out']),
    error_codes: z.array(z.string().min(1).max(100)).min(1).max(100).optional(),
  })
  .strict();

export const compareQuerySchema = z.object({ with: z.uuid(), alpha: z.coerce.number().gt(0).lt(1).default(0.05) }).strict();

/** A batch as the API shows it. */
export function batchView(batch: BatchSummary) {
  return {
    id: batch.id,
    status: batch.status,
    submitted: batch.submitted,
    accepted: batch.accepted,
    items: batch.items,
    attempts: batch.attempts,
    counts: batch.counts,
    usage: batch.usage,
    grading_usage: batch.grading_usage,
    token_limit: batch.token_limit === null ? null : Number(batch.token_limit),
    epochs: batch.epochs,
    duration_ms: batch.duration_ms,
    scores: batch.scores,
    created_at: iso(batch.created_at),
    cancel_requested_at: iso(batch.cancel_requested_at),
    ended_at: iso(batch.ended_at),
  };
}

/** The batch endpoints, free of any HTTP framework: plain input in, `{status, body}` out. */
export function batchHandlers({ batches, submitter, announceCancel, admit }: BatchHandlerDeps) {
  const findBatch = async (caller: Caller, id: string) => {
    const batch = isUuid(id) ? await batches.find(caller.tenantId, id) : undefined;
    if (!batch) throw HttpProblem.notFound(`batch ${id}`);
    return batch;
  };
  const summary = async (caller: Caller, id: string) => {
    const found = isUuid(id) ? await batches.summary(caller.tenantId, id) : undefined;
    if (!found) throw HttpProblem.notFound(`batch ${id}`);
    return batchView(found);
  };

  return {
    findBatch,

    async get(caller: Caller, id: string): Promise<HandlerResult> {
      return { status: 200, body: await summary(caller, id) };
    },

    /** What the results file holds, checked before the first line is sent. */
    async resultsFilter(caller: Caller, id: string, query: unknown): Promise<ResultsFilter> {
      const { status, attempts } = parse(resultsQuerySchema, query, 'the query');
      await findBatch(caller, id);
      return { statuses: status, allAttempts: attempts === 'all' };
    },

    /** Cancels every unfinished mission of the batch; a second cancel is harmless, one of an ended batch a `409`. */
    async cancel(caller: Caller, id: string): Promise<HandlerResult> {
      await findBatch(caller, id);
      const cancelled = await batches.cancel(id, CANCELLED);
      if (cancelled === 'ended') throw new HttpProblem(409, 'batch-ended', 'The batch has already ended.', 'nothing in it is left to cancel');
      await announceCancel(cancelled.running).catch(() => undefined);
      return { status: 202, body: await summary(caller, id) };
    },

    /** A new attempt of each item that failed (or matches the filter); succeeded items never run again. */
    async retry(caller: Caller, id: string, body: unknown): Promise<HandlerResult> {
      const filter = parse(retrySchema, body ?? {}, 'the retry');
      await findBatch(caller, id);
      const created = await batches.retry(id, { statuses: filter.statuses, errorCodes: filter.error_codes }, async (specs) => {
        const refused = (await admit(caller, specs)).find(Boolean);
        if (refused) throw refused;
      });
      submitter.enqueue(created);
      const items = created.map((mission) => ({ item: mission.item, epoch: mission.epoch, custom_id: mission.custom_id, mission_id: mission.id, attempt: mission.attempt, retry_of: mission.retry_of }));
      return { status: 202, body: { batch_id: id, retried: created.length, items } };
    },

    /**
     * How each item changed from batch `with` (an earlier run) to this one, paired by custom_id, and the mean
     * difference of their scores with its interval and p-value (`alpha` says what counts as significant).
     */
    async compare(caller: Caller, id: string, query: unknown): Promise<HandlerResult> {
      const { with: thereId, alpha } = parse(compareQuerySchema, query, 'the query');
      await findBatch(caller, id);
      await findBatch(caller, thereId);
      const { items, difference } = await batches.compare(id, thereId, alpha);
      const counts = { broken: 0, fixed: 0, still_failing: 0, still_passing: 0, unfinished: 0, only_here: 0, only_there: 0 };
      for (const item of items) counts[item.change]++;
      // Items that still pass are left out, unless their score moved (with epochs, or scores below 1).
      const changed = items.filter((item) => item.change !== 'still_passing' || item.here!.score !== item.there!.score);
      return { status: 200, body: { batch_id: id, with: thereId, counts, difference, items: changed } };
    },
  };
}

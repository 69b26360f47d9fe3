import { z } from 'zod';
import { MISSION_STATUSES, missionSpecSchema, refuseUnstorable, type MissionLimits, type MissionSpec } from '../../jobs/mission';
import { scorerSchema } from '../../scoring/score';
import type { Approvals } from '../../store/approvals';
import type { MissionStore } from '../../store/missionStore';
import type { MissionSubmitter } from '../../store/submitter';
import { isUuid } from '../../lib/ids';
import type { Caller } from '../apiKeys';
import { decodeCursor, isIdPosition, keysetPage } from '../cursor';
import { HttpProblem } from '../problem';
import { missionView, stepView } from '../views';
import { parse } from './parse';
import type { HandlerResult } from './result';

export interface MissionHandlerDeps {
  store: MissionStore;
  approvals: Approvals;
  submitter: MissionSubmitter;
  /** Tells workers to stop these cancelled missions. */
  announceCancel(missionIds: readonly string[]): Promise<void>;
  /** Most missions one batch may hold. */
  maxBatch: number;
  /** The deadline a mission gets, and the longest it may ask for. */
  missionLimits: MissionLimits;
  /** Checks what a valid mission refers to (model endpoint, its own URL, the mission it replays) against its caller. */
  admit(caller: Caller, specs: readonly MissionSpec[]): Promise<(HttpProblem | undefined)[]>;
}

export const listQuerySchema = z
  .object({
    status: z.enum(MISSION_STATUSES).optional(),
    batch_id: z.uuid().optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

/** Step numbers are Postgres integers. */
const MAX_SEQ = 2_147_483_647;

export const stepsQuerySchema = z
  .object({
    after: z.coerce.number().int().min(0).max(MAX_SEQ).optional(),
    limit: z.coerce.number().int().min(1).max(1_000).default(100),
    cursor: z.string().max(200).optional(),
  })
  .strict();

/** Steps shown with a mission (GET /v1/missions/:id); the rest are pages of GET /v1/missions/:id/steps. */
const MISSION_STEPS_PAGE = 100;
const isSeqPosition = (value: unknown): value is { seq: number } => {
  const seq = (value as { seq?: unknown } | null)?.seq;
  return typeof value === 'object' && Number.isInteger(seq) && (seq as number) >= 0 && (seq as number) <= MAX_SEQ;
};

/** What a batch may carry beside its missions. */
const batchOptionsSchema = z
  .object({
    missions: z.undefined(),
    token_limit: z.number().int().min(1).max(1e15).optional(),
    /** Each item runs this many times, as that many missions with its custom_id and epoch 1..k. */
    epochs: z.number().int().min(1).max(100).default(1),
    /** The scorer of each item that names none of its own. */
    scorer: scorerSchema.optional(),
  })
  .strict();

const duplicateCustomId = (index: number, customId: string, first: number) =>
  new HttpProblem(400, 'validation-failed', 'Your request is not valid.', `mission ${index}: custom_id "${customId}" is that of mission ${first} already`, [
    { path: 'custom_id', message: `used by mission ${first} of this batch already` },
  ]);

const invalidBody = (detail: string) => new HttpProblem(400, 'validation-failed', 'Your request is not valid.', detail);

/** The mission endpoints, free of any HTTP framework: plain input in, `{status, body}` out. */
export const approvalSchema = z
  .object({ decision: z.enum(['approve', 'reject']), reason: z.string().max(2_000).optional() })
  .strict()
  .superRefine(refuseUnstorable);

export function missionHandlers({ store, approvals, submitter, announceCancel, maxBatch, missionLimits, admit }: MissionHandlerDeps) {
  const specSchema = missionSpecSchema(missionLimits);
  const findMission = async (caller: Caller, id: string) => {
    const mission = isUuid(id) ? await store.getForTenant(caller.tenantId, id) : undefined;
    if (!mission) throw HttpProblem.notFound(`mission ${id}`);
    return mission;
  };

  return {
    findMission,

    async create(caller: Caller, body: unknown): Promise<HandlerResult> {
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidBody('the body must be a JSON object');
      const spec = parse(specSchema, body, 'the mission');
      const [refused] = await admit(caller, [spec]);
      if (refused) throw refused;
      const mission = await submitter.submit(caller.tenantId, spec);
      return { status: 201, body: missionView(mission), headers: { Location: `/v1/missions/${mission.id}` } };
    },

    /**
     * Valid items are accepted even when others are not; each item gets its id or its problems. A custom_id
     * already used by an earlier item of the batch is a problem of the later item.
     */
    async createBatch(caller: Caller, body: unknown): Promise<HandlerResult> {
      const items = (body as { missions?: unknown } | null)?.missions;
      if (body === null || typeof body !== 'object' || Array.isArray(body) || !Array.isArray(items)) {
        throw invalidBody('the body must be {"missions": [...], "token_limit"?: n, "epochs"?: k, "scorer"?: {...}}');
      }
      const { token_limit: tokenLimit, epochs, scorer } = parse(batchOptionsSchema, { ...body, missions: undefined }, 'the batch');
      if (items.length === 0) throw invalidBody('the batch is empty');
      if (items.length * epochs > maxBatch) {
        const runs = epochs === 1 ? `this one has ${items.length}` : `this one has ${items.length} items of ${epochs} epochs, ${items.length * epochs}`;
        throw new HttpProblem(413, 'batch-too-large', 'The batch is too large.', `a batch holds at most ${maxBatch} missions; ${runs}`);
      }
      const parsed: { index: number; spec: MissionSpec }[] = [];
      const firstWith = new Map<string, number>();
      const results: Record<string, unknown>[] = items.map((item, index) => {
        const result = specSchema.safeParse(item);
        if (!result.success) return { index, error: HttpProblem.validation(result.error, `mission ${index}`).toBody() };
        const customId = result.data.custom_id;
        if (customId !== undefined) {
          const first = firstWith.get(customId);
          if (first !== undefined) return { index, custom_id: customId, error: duplicateCustomId(index, customId, first).toBody() };
          firstWith.set(customId, index);
        }
        parsed.push({ index, spec: scorer && !result.data.scorer ? { ...result.data, scorer } : result.data });
        return customId === undefined ? { index } : { index, custom_id: customId };
      });
      const refusals = await admit(caller, parsed.map((item) => item.spec));
      const valid = parsed.filter((item, position) => {
        const refused = refusals[position];
        if (refused) results[item.index]!.error = refused.toBody();
        return !refused;
      });
      if (valid.length === 0) {
        throw new HttpProblem(400, 'validation-failed', 'No mission in the batch is valid.', 'see errors', undefined, { items: results });
      }
      const { batchId, missions } = await submitter.submitBatch(caller.tenantId, valid.map((item) => item.spec), items.length, { tokenLimit, epochs });
      valid.forEach((item, position) => {
        const runs = missions.slice(position * epochs, (position + 1) * epochs);
        Object.assign(results[item.index]!, { id: runs[0]!.id }, epochs > 1 && { ids: runs.map((mission) => mission.id) });
      });
      return {
        status: 202,
        body: { batch_id: batchId, accepted: valid.length, rejected: items.length - valid.length, items: results },
        headers: { Location: `/v1/batches/${batchId}` },
      };
    },

    async get(caller: Caller, id: string): Promise<HandlerResult> {
      const mission = await findMission(caller, id);
      // The first page of its trace; the rest through /steps, so no mission's size is a read's.
      const steps = keysetPage(await store.steps(mission.id, 0, MISSION_STEPS_PAGE + 1), MISSION_STEPS_PAGE, (last) => ({ seq: last.seq }));
      const body = { ...missionView(mission, steps.data), steps_next_cursor: steps.next_cursor };
      if (mission.status !== 'waiting_approval') return { status: 200, body };
      const pending = await approvals.get(mission.id, mission.step_count + 1);
      return { status: 200, body: { ...body, approval: pending && { step: pending.seq, tool: pending.tool, input: pending.input, thought: pending.thought } } };
    },

    /** Approves or rejects the step a mission waits on; the mission is queued again and continues there. */
    async decide(caller: Caller, id: string, body: unknown): Promise<HandlerResult> {
      const { decision, reason } = parse(approvalSchema, body, 'the decision');
      const mission = await findMission(caller, id);
      const queued = await approvals.decide(caller.tenantId, mission.id, decision === 'approve', reason ?? null);
      if (!queued) throw new HttpProblem(409, 'not-waiting-approval', 'The mission is not waiting for an approval.', `it is ${mission.status}`);
      submitter.enqueue([queued]);
      return { status: 200, body: missionView((await store.getForTenant(caller.tenantId, id))!) };
    },

    async list(caller: Caller, query: unknown): Promise<HandlerResult> {
      const { status, batch_id, limit, cursor } = parse(listQuerySchema, query, 'the query');
      const before = cursor === undefined ? undefined : decodeCursor(cursor, isIdPosition).id;
      const page = keysetPage(await store.list(caller.tenantId, { status, batch_id, before, limit: limit + 1 }), limit, (last) => ({ id: last.id }));
      return { status: 200, body: { data: page.data.map((mission) => missionView(mission)), next_cursor: page.next_cursor } };
    },

    async steps(caller: Caller, id: string, query: unknown): Promise<HandlerResult> {
      const { after, limit, cursor } = parse(stepsQuerySchema, query, 'the query');
      const mission = await findMission(caller, id);
      const from = cursor === undefined ? (after ?? 0) : decodeCursor(cursor, isSeqPosition).seq;
      const page = keysetPage(await store.steps(mission.id, from, limit + 1), limit, (last) => ({ seq: last.seq }));
      return { status: 200, body: { data: page.data.map(stepView), next_cursor: page.next_cursor } };
    },

    /** Cancels a mission; a `409` when the cancel did not take effect (it had finished, or another came first). */
    async cancel(caller: Caller, id: string): Promise<HandlerResult> {
      const found = isUuid(id) ? await store.cancel(caller.tenantId, id) : undefined;
      if (!found) throw HttpProblem.notFound(`mission ${id}`);
      if (!found.cancelled) {
        const detail = found.mission.status === 'cancelled' ? 'it was cancelled already' : `it is ${found.mission.status}`;
        throw new HttpProblem(409, 'mission-finished', 'The mission has already finished.', detail);
      }
      await announceCancel([id]).catch(() => undefined);
      return { status: 200, body: missionView(found.mission) };
    },
  };
}

import type { Queue } from 'bullmq';
import { missionSpecSchema } from '../../jobs/mission';
import type { MissionStore } from '../../jobs/missionStore';
import { isUuid } from '../../lib/ids';
import type { Logger } from '../../lib/logger';
import { enqueueMission, type MissionJobData } from '../../lib/queue';
import { HttpProblem } from '../problem';
import { missionView } from '../views';
import type { HandlerResult } from './result';

export interface MissionHandlerDeps {
  store: MissionStore;
  queue: Queue<MissionJobData>;
  logger: Logger;
}

/** The mission endpoints, free of any HTTP framework: plain input in, `{status, body}` out. */
export function missionHandlers({ store, queue, logger }: MissionHandlerDeps) {
  return {
    async create(body: unknown): Promise<HandlerResult> {
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new HttpProblem(400, 'validation-failed', 'Your request is not valid.', 'the body must be a JSON object');
      }
      const parsed = missionSpecSchema.safeParse(body);
      if (!parsed.success) throw HttpProblem.validation(parsed.error, 'the mission');
      // Committed first: from here on the mission is never lost, even if Redis is away right now.
      const mission = await store.create(parsed.data);
      await enqueueMission(queue, mission.id).catch((error: unknown) =>
        logger.warn({ err: error, mission_id: mission.id }, 'mission committed but not yet enqueued'),
      );
      return { status: 201, body: missionView(mission), headers: { Location: `/v1/missions/${mission.id}` } };
    },

    async get(id: string): Promise<HandlerResult> {
      const mission = isUuid(id) ? await store.get(id) : undefined;
      if (!mission) throw HttpProblem.notFound(`mission ${id}`);
      return { status: 200, body: missionView(mission, await store.steps(id)) };
    },
  };
}

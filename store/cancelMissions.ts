import type { MissionError } from '../jobs/mission';
import { EVENTS_CHANNEL } from './missionProgress';

export const CANCELLED: MissionError = { code: 'ERR_CANCELLED', message: 'the mission was cancelled' };

/**
 * The statement that cancels the unfinished missions `pick` selects (`id, status`, rows locked `for update`),
 * with `:error` as their error. Answers each mission it cancelled with the status it had.
 *
 * The cancel is stamped with clock_timestamp() once it holds the row, so it falls after any step a worker
 * claimed before it (MissionProgress.claimStep); no step is claimed after it. While a claimed step is still in
 * flight, the `cancelled` event is left to the worker, which records the killed step first, so a stream sees
 * the step before the end.
 */
export function cancelStatement(pick: string): string {
  return `
    with picked as (${pick}), m as (
      update missions set status = 'cancelled', finished_at = clock_timestamp(), error = :error::jsonb
      from picked where missions.id = picked.id
      returning missions.id, picked.status as was, missions.step_claimed > missions.step_count as step_in_flight
    ), e as (
      insert into mission_events (mission_id, type, data)
      select id, 'status', jsonb_build_object('status', 'cancelled') from m where not step_in_flight returning mission_id
    ), n as (
      select pg_notify('${EVENTS_CHANNEL}', mission_id::text) from e
    )
    select m.id, m.was, (select count(*) from n) as notified from m`;
}

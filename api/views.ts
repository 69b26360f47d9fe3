import { missionUsage, stepView, type Mission, type Step } from '../jobs/mission';

export { stepView };

/** A time as the API shows it: ISO 8601 in UTC, or null. */
export const iso = (date: Date | null) => (date ? date.toISOString() : null);
const millisBetween = (from: Date | null, to: Date | null) => (from && to ? to.getTime() - from.getTime() : null);

/** A mission as the API shows it. */
export function missionView(mission: Mission, steps?: readonly Step[]) {
  const { spec } = mission;
  return {
    id: mission.id,
    status: mission.status,
    goal: mission.goal,
    custom_id: mission.custom_id,
    batch_id: mission.batch_id,
    ...(mission.batch_id && { item: mission.item, epoch: mission.epoch, attempt: mission.attempt, retry_of: mission.retry_of, superseded_by: mission.superseded_by }),
    policy: spec.policy,
    plan: spec.plan,
    max_steps: spec.max_steps,
    deadline_s: spec.deadline_s,
    ...(spec.llm && { llm: spec.llm }),
    ...(spec.replay_of && { replay_of: spec.replay_of }),
    metadata: spec.metadata,
    result: mission.result,
    error: mission.error,
    step_count: mission.step_count,
    usage: missionUsage(mission),
    ...(spec.token_limit !== undefined && { token_limit: spec.token_limit }),
    ...(spec.fresh_sandbox !== undefined && { fresh_sandbox: spec.fresh_sandbox }),
    ...(spec.environment && { environment: spec.environment }),
    ...(spec.tools && { tools: spec.tools }),
    ...(spec.allowed_tools && { allowed_tools: spec.allowed_tools }),
    // What collecting kept (null until the mission ends); the files through GET /v1/missions/:id/artifacts.
    ...(spec.artifacts && { artifacts: { globs: spec.artifacts, collected: mission.artifacts } }),
    ...(mission.waiting_for && { waiting_for: mission.waiting_for }),
    ...(spec.scorer && { scorer: spec.scorer, score: mission.score }),
    worker_id: mission.worker_id,
    workers: mission.workers,
    created_at: iso(mission.created_at),
    started_at: iso(mission.started_at),
    finished_at: iso(mission.finished_at),
    deadline_at: iso(mission.deadline_at),
    duration_ms: millisBetween(mission.started_at, mission.finished_at),
    ...(steps && { steps: steps.map(stepView) }),
  };
}

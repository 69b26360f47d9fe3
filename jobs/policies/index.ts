import type { MissionSpec } from '../mission';
import type { Policy } from './policy';
import { scriptedPolicy } from './scripted';
import { simPolicy } from './sim';

const SIM_THINK_MS = 2_000;

/** The policy a mission asked for. */
export function policyFor(spec: MissionSpec): Policy {
  return spec.policy === 'sim' ? simPolicy(spec.plan, spec.sim_think_ms ?? SIM_THINK_MS) : scriptedPolicy(spec.plan);
}

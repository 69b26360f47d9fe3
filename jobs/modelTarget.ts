import type { LlmEndpoint } from '../lib/llmEndpoints';
import type { MissionSpec } from './mission';

/** What an `openai` mission calls: one of the operator's endpoints (with its key), or the tenant's own URL (without). */
export type ModelTarget =
  | { kind: 'endpoint'; endpoint: LlmEndpoint; model: string }
  | { kind: 'tenant-url'; baseUrl: string; model: string };

/** What is wrong with the endpoint or model a mission asked for, and where in the mission. */
export interface TargetProblem {
  path: string[];
  message: string;
}

/**
 * The endpoint and model of an `openai` mission: `llm.endpoint` (or `default`) and `llm.model` among that
 * endpoint's models (its first when none is named); or `llm.base_url`, the tenant's own endpoint, which needs a
 * model named. Whether the tenant may use its own URL, and where that URL leads, is checked by the caller.
 */
export function modelTarget(llm: Pick<NonNullable<MissionSpec['llm']>, 'base_url' | 'endpoint' | 'model'> | undefined, endpoints: Readonly<Record<string, LlmEndpoint>>): ModelTarget | TargetProblem {
  if (llm?.base_url) {
    if (!llm.model) return { path: ['llm', 'model'], message: 'name the model when llm.base_url is given' };
    return { kind: 'tenant-url', baseUrl: llm.base_url, model: llm.model };
  }
  const name = llm?.endpoint ?? 'default';
  const endpoint = Object.hasOwn(endpoints, name) ? endpoints[name] : undefined;
  if (!endpoint) {
    const known = Object.keys(endpoints);
    const message = known.length === 0 ? 'no model endpoint is configured (LLM_BASE_URL or LLM_ENDPOINTS)' : `no endpoint "${name}"; the endpoints are ${known.join(', ')}`;
    return { path: ['llm', 'endpoint'], message };
  }
  const model = llm?.model ?? endpoint.models[0]!;
  if (!endpoint.models.includes(model)) return { path: ['llm', 'model'], message: `endpoint "${name}" offers ${endpoint.models.join(', ')}` };
  return { kind: 'endpoint', endpoint, model };
}

export const isTargetProblem = (target: ModelTarget | TargetProblem): target is TargetProblem => 'path' in target;

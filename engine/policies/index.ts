import type { LlmEndpoint } from '../../lib/llmEndpoints';
import { refuseTenantUrl } from '../../lib/publicAddress';
import type { Redis } from '../../lib/redis';
import type { LlmCalls } from '../../store/llmCalls';
import type { Mission } from '../../jobs/mission';
import { Toolbox } from '../../jobs/toolbox';
import { isTargetProblem, modelTarget, type ModelTarget } from '../../jobs/modelTarget';
import { httpAnthropicMessages } from './anthropicHttp';
import { httpChatCompletion } from './chatHttp';
import { limitedChatCompletion, type LlmLimits, type LlmObserver } from './llmLimiter';
import { retryingChatCompletion } from './modelRetry';
import type { HistoryBound } from './historyWindow';
import { modelPolicy, type ChatCompletion } from './openai';
import type { Policy } from './policy';
import { scriptedPolicy } from './scripted';
import { simPolicy } from './sim';

const SIM_THINK_MS = 2_000;

export interface PolicyDeps {
  llm: {
    /** The operator's endpoints, each with its own key. */
    endpoints: Readonly<Record<string, LlmEndpoint>>;
    /** Origins a tenant's own URL may have without https and the public-address rule. */
    tenantUrlAllowlist: readonly string[];
    /** Limits of calls to a tenant's own URL (the operator's endpoints carry their own). */
    tenantUrlLimits: LlmLimits;
    timeoutMs: number;
    /** How long one model call may keep finding its endpoint unavailable before the mission fails (LLM_RETRY_BUDGET_S). */
    retryBudgetMs: number;
    history: HistoryBound;
  };
  calls: LlmCalls;
  /** Whether the tenant may call a URL of its own now: asked before every such call (store/tenantPermissions.ts). */
  allowsOwnUrl(tenantId: string): Promise<boolean>;
  /** Told of each endpoint's calls, by the endpoint's name (a tenant's own URL is "tenant-url"). */
  observeLlm?: (endpoint: string) => LlmObserver;
  /** Where the fleet-wide LLM limits are counted. */
  redis: Redis;
  prefix: string;
}

/** The model client of a target, one per endpoint in the process: the agents' policies and the graders share it. */
export type ModelClients = (target: ModelTarget) => ChatCompletion;

/**
 * One client per endpoint in this process, so its circuit breaker sees every mission's calls. A call waits out
 * an endpoint that is unavailable (429, 5xx, down) within its retry budget.
 */
export function modelClients(deps: PolicyDeps): ModelClients {
  const clients = new Map<string, ChatCompletion>();
  return (target) => {
    const key = target.kind === 'endpoint' ? `endpoint:${target.endpoint.name}` : `tenant-url:${target.baseUrl}`;
    let client = clients.get(key);
    if (!client) {
      const { timeoutMs } = deps.llm;
      const speak = target.kind === 'endpoint' && target.endpoint.kind === 'anthropic' ? httpAnthropicMessages : httpChatCompletion;
      const http =
        target.kind === 'endpoint'
          ? speak({ baseUrl: target.endpoint.baseUrl, apiKey: target.endpoint.apiKey, timeoutMs })
          : speak({ baseUrl: target.baseUrl, timeoutMs, publicOnly: !deps.llm.tenantUrlAllowlist.includes(new URL(target.baseUrl).origin) });
      const limits = target.kind === 'endpoint' ? { requestsPerWindow: target.endpoint.rpm, tokensPerWindow: target.endpoint.tpm } : deps.llm.tenantUrlLimits;
      const label = target.kind === 'endpoint' ? target.endpoint.name : 'tenant-url';
      client = retryingChatCompletion(limitedChatCompletion(http, deps.redis, deps.prefix, key, limits, deps.observeLlm?.(label)), { budgetMs: deps.llm.retryBudgetMs });
      clients.set(key, client);
    }
    return client;
  };
}

/** Builds the policy each mission asked for. */
export function createPolicies(deps: PolicyDeps, clientFor: ModelClients = modelClients(deps)): (mission: Mission) => Policy {
  return (mission) => {
    const { spec } = mission;
    const { history } = deps.llm;
    switch (spec.policy) {
      case 'scripted':
        return scriptedPolicy(spec.plan);
      case 'sim':
        return simPolicy(spec.plan, spec.sim_think_ms ?? SIM_THINK_MS);
      case 'openai': {
        // Checked at submission too; checked again here, against this worker's configuration.
        const target = modelTarget(spec.llm, deps.llm.endpoints);
        if (isTargetProblem(target)) return failingPolicy(`${target.path.join('.')}: ${target.message}`);
        let complete = clientFor(target);
        if (target.kind === 'tenant-url') complete = checkedUrl(complete, target.baseUrl, deps.llm.tenantUrlAllowlist, () => deps.allowsOwnUrl(mission.tenant_id));
        if (spec.llm?.record) complete = recorded(complete, deps.calls, mission.id);
        const price = target.kind === 'endpoint' && Object.hasOwn(target.endpoint.prices, target.model) ? target.endpoint.prices[target.model] : undefined;
        const endpoint = target.kind === 'endpoint' ? target.endpoint.name : 'tenant-url';
        return modelPolicy({ goal: spec.goal, model: target.model, format: spec.llm?.format ?? 'tools', history, complete, billing: { endpoint, price }, settings: spec.llm, toolbox: Toolbox.of(spec) });
      }
      case 'replay':
        return modelPolicy({ goal: spec.goal, model: 'replay', format: 'tools', history, complete: replayed(deps.calls, mission.tenant_id, spec.replay_of!), billing: 'free', toolbox: Toolbox.of(spec) });
    }
  };
}

/**
 * A tenant's own URL is checked once more before its first call (https or allow-listed, a public address), and
 * the tenant's permission to use one before every call (the operator may have taken it away since admission).
 */
function checkedUrl(complete: ChatCompletion, baseUrl: string, allowlist: readonly string[], allowed: () => Promise<boolean>): ChatCompletion {
  let checked: Promise<void> | undefined;
  return async (request, signal, callIndex) => {
    checked ??= refuseTenantUrl(baseUrl, allowlist).then((reason) => {
      if (reason) throw new Error(`llm.base_url ${reason}`);
    });
    await checked;
    if (!(await allowed())) throw new Error('llm.base_url: this tenant may no longer send model calls to a URL of its own (the operator took it away)');
    return complete(request, signal, callIndex);
  };
}

/** Stores each call and its answer, so the mission can be replayed offline. */
function recorded(complete: ChatCompletion, calls: LlmCalls, missionId: string): ChatCompletion {
  return async (request, signal, callIndex) => {
    const response = await complete(request, signal, callIndex);
    await calls.record(missionId, callIndex, request, response);
    return response;
  };
}

/** Answers call N with the recorded answer to call N of another mission of the same tenant. */
function replayed(calls: LlmCalls, tenantId: string, missionId: string): ChatCompletion {
  let responses: Promise<unknown[] | undefined> | undefined;
  return async (_request, _signal, callIndex) => {
    responses ??= calls.responses(tenantId, missionId);
    const recordedResponses = await responses;
    if (!recordedResponses) throw new Error(`replay_of: this tenant has no mission ${missionId}`);
    if (callIndex >= recordedResponses.length) throw new Error(`mission ${missionId} has no recorded call ${callIndex + 1}`);
    return recordedResponses[callIndex];
  };
}

function failingPolicy(reason: string): Policy {
  return { feedsBackErrors: false, next: () => Promise.reject(new Error(reason)) };
}

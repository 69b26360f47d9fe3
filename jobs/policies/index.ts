import type { Redis } from '../../lib/redis';
import type { LlmCalls } from '../llmCalls';
import type { Mission } from '../mission';
import { httpChatCompletion } from './chatHttp';
import { limitedChatCompletion, type LlmLimits } from './llmLimiter';
import { modelPolicy, type ChatCompletion } from './openai';
import type { Policy } from './policy';
import { scriptedPolicy } from './scripted';
import { simPolicy } from './sim';

const SIM_THINK_MS = 2_000;

export interface PolicyDeps {
  /** Defaults for `openai` missions: the endpoint and model they use unless they name their own. */
  llm: { baseUrl?: string; model: string; apiKey?: string; timeoutMs: number; historySteps: number; limits: LlmLimits };
  calls: LlmCalls;
  /** Where the fleet-wide LLM limits are counted. */
  redis: Redis;
  prefix: string;
}

/** Builds the policy each mission asked for. */
export function createPolicies(deps: PolicyDeps): (mission: Mission) => Policy {
  // One client per endpoint in this process, so its circuit breaker sees every mission's calls.
  const clients = new Map<string, ChatCompletion>();
  const clientFor = (baseUrl: string) => {
    let client = clients.get(baseUrl);
    if (!client) {
      const http = httpChatCompletion({ baseUrl, apiKey: deps.llm.apiKey, timeoutMs: deps.llm.timeoutMs });
      client = limitedChatCompletion(http, deps.redis, deps.prefix, baseUrl, deps.llm.limits);
      clients.set(baseUrl, client);
    }
    return client;
  };
  return (mission) => {
    const { spec } = mission;
    switch (spec.policy) {
      case 'scripted':
        return scriptedPolicy(spec.plan);
      case 'sim':
        return simPolicy(spec.plan, spec.sim_think_ms ?? SIM_THINK_MS);
      case 'openai': {
        const baseUrl = spec.llm?.base_url ?? deps.llm.baseUrl;
        if (!baseUrl) return failingPolicy('no model endpoint: set LLM_BASE_URL or the mission\'s llm.base_url');
        let complete = clientFor(baseUrl);
        if (spec.llm?.record) complete = recorded(complete, deps.calls, mission.id);
        return modelPolicy({ goal: spec.goal, model: spec.llm?.model ?? deps.llm.model, format: spec.llm?.format ?? 'tools', historySteps: deps.llm.historySteps, complete });
      }
      case 'replay':
        return modelPolicy({ goal: spec.goal, model: 'replay', format: 'tools', historySteps: deps.llm.historySteps, complete: replayed(deps.calls, spec.replay_of!) });
    }
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

/** Answers call N with the recorded answer to call N of another mission. */
function replayed(calls: LlmCalls, missionId: string): ChatCompletion {
  let responses: Promise<unknown[]> | undefined;
  return async (_request, _signal, callIndex) => {
    responses ??= calls.responses(missionId);
    const recordedResponses = await responses;
    if (callIndex >= recordedResponses.length) throw new Error(`mission ${missionId} has no recorded call ${callIndex + 1}`);
    return recordedResponses[callIndex];
  };
}

function failingPolicy(reason: string): Policy {
  return { feedsBackErrors: false, next: () => Promise.reject(new Error(reason)) };
}

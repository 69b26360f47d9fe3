import type { LlmEndpoint } from '../../lib/llmEndpoints';
import { isTargetProblem, modelTarget } from '../../jobs/modelTarget';
import type { Grade } from '../../scoring/modelScorer';
import type { ModelClients } from './index';
import { usageOf } from './openai';

/**
 * Model scorers' calls: to one of the operator's endpoints (never a tenant's own URL), through the same client as
 * the agents' calls, so the endpoint's limits and breaker count them; priced as the agents' are.
 */
export function grader(endpoints: Readonly<Record<string, LlmEndpoint>>, clientFor: ModelClients): Grade {
  return async (wanted, request, signal) => {
    const target = modelTarget(wanted, endpoints);
    if (isTargetProblem(target)) throw new Error(`scorer.model.${target.path.at(-1)}: ${target.message}`);
    if (target.kind !== 'endpoint') throw new Error('scorer.model: a grader is one of the operator\'s endpoints');
    const reply = await clientFor(target)({ model: target.model, messages: request.messages, tools: request.tools, tool_choice: 'auto' }, signal, 0);
    const price = Object.hasOwn(target.endpoint.prices, target.model) ? target.endpoint.prices[target.model] : undefined;
    return { reply, usage: usageOf(reply, target.endpoint.name, target.model, price) };
  };
}

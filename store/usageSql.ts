/**
 * SQL over a step's `usage` (jsonb, null for a step no model chose), as the increments of its mission's totals:
 * tokens in and out, cost, and the tokens of calls to models without a price (a cost is never a false 0).
 */
export function usageIncrements(usage: string): Record<'input_tokens' | 'output_tokens' | 'cost_usd' | 'unpriced_tokens', string> {
  const tokens = `coalesce((${usage}->>'input_tokens')::bigint, 0) + coalesce((${usage}->>'output_tokens')::bigint, 0)`;
  return {
    input_tokens: `coalesce((${usage}->>'input_tokens')::bigint, 0)`,
    output_tokens: `coalesce((${usage}->>'output_tokens')::bigint, 0)`,
    cost_usd: `coalesce((${usage}->>'cost_usd')::numeric, 0)`,
    unpriced_tokens: `case when jsonb_typeof(${usage}->'cost_usd') = 'number' then 0 else ${tokens} end`,
  };
}

/** `set` assignments adding `increments` (columns of a row named `from`) to a mission's totals. */
export function addToMissionTotals(from: string): string {
  return ['input_tokens', 'output_tokens', 'cost_usd', 'unpriced_tokens'].map((column) => `${column} = missions.${column} + ${from}.${column}`).join(', ');
}

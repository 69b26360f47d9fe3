/** What model calls used: tokens, and cost at the operator's prices (null: a model without a price was used). */
export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number | null;
}

/** Tokens and cost as one phrase; a cost unknown because a model has no price says so. */
export function usageLine(usage: Usage): string {
  const cost = usage.cost_usd === null ? 'cost unknown (a model without a price)' : `$${usage.cost_usd.toFixed(4)}`;
  return `${usage.input_tokens} tokens in, ${usage.output_tokens} out, ${cost}`;
}


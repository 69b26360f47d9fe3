import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** A model endpoint the operator configured. Its key is sent to its own base URL and nowhere else. */
export interface LlmEndpoint {
  name: string;
  /** The wire format it speaks: OpenAI's chat completions, or Anthropic's Messages. */
  kind: LlmKind;
  baseUrl: string;
  apiKey?: string;
  /** The models missions may ask of it; the first is what a mission that names none gets. */
  models: readonly string[];
  /** Requests and tokens per minute, for the whole fleet. */
  rpm: number;
  tpm: number;
  /** The operator's prices of its models, in US dollars per million tokens; a model without one is unpriced. */
  prices: Readonly<Record<string, ModelPrice>>;
}

export type LlmKind = 'openai' | 'anthropic';
export const LLM_KINDS: readonly LlmKind[] = ['openai', 'anthropic'];

/** Dollars per million tokens; input read from or written to the provider's prompt cache may cost otherwise. */
export interface ModelPrice {
  input: number;
  output: number;
  cache_read?: number;
  cache_write?: number;
}

const pricesSchema = z.record(
  z.string().min(1).max(200),
  z.object({ input: z.number().min(0), output: z.number().min(0), cache_read: z.number().min(0).optional(), cache_write: z.number().min(0).optional() }).strict(),
);

/** Input tokens of a call, of which some may have been read from, or written to, the prompt cache. */
export interface InputTokens {
  total: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/** What a model call costs at `price`, in dollars (cache reads and writes at their own prices, if given); null without a price. */
export function costOf(price: ModelPrice | undefined, input: InputTokens | number, outputTokens: number): number | null {
  if (!price) return null;
  const { total, cacheRead = 0, cacheWrite = 0 } = typeof input === 'number' ? { total: input } : input;
  const plain = total - cacheRead - cacheWrite;
  const cached = cacheRead * (price.cache_read ?? price.input) + cacheWrite * (price.cache_write ?? price.input);
  return (plain * price.input + cached + outputTokens * price.output) / 1e6;
}

export const ENDPOINT_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const endpointSchema = z
  .object({
    base_url: z.url({ protocol: /^https?$/ }),
    kind: z.enum(LLM_KINDS).optional(),
    /** The name of the environment variable that holds the key. */
    api_key_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
    /** A file that holds the key (a mounted secret); surrounding white space is dropped. */
    api_key_file: z.string().min(1).optional(),
    models: z.array(z.string().min(1).max(200)).min(1),
    rpm: z.number().int().min(1).optional(),
    tpm: z.number().int().min(1).optional(),
    prices: pricesSchema.optional(),
  })
  .strict()
  .refine((endpoint) => !(endpoint.api_key_env && endpoint.api_key_file), 'give api_key_env or api_key_file, not both')
  .refine((endpoint) => Object.keys(endpoint.prices ?? {}).every((model) => endpoint.models.includes(model)), 'prices may only name models of the endpoint');

const endpointsSchema = z.record(z.string().regex(ENDPOINT_NAME, 'names are lower-case letters, digits, dot, dash, underscore'), endpointSchema);

export interface EndpointSettings {
  LLM_ENDPOINTS?: string;
  LLM_BASE_URL?: string;
  LLM_KIND: LlmKind;
  LLM_API_KEY?: string;
  LLM_MODELS: readonly string[];
  LLM_RPM: number;
  LLM_TPM: number;
  /** Prices of the `default` endpoint's models (JSON, as `prices` in LLM_ENDPOINTS). */
  LLM_PRICES?: string;
}

/**
 * The endpoints missions may name: those of `LLM_ENDPOINTS` (JSON, by name) and `default`, made of LLM_BASE_URL,
 * LLM_KIND, LLM_API_KEY and LLM_MODELS. Keys are read here, from the environment or a file. Throws a plain message on error.
 */
export function resolveEndpoints(settings: EndpointSettings, env: NodeJS.ProcessEnv): Readonly<Record<string, LlmEndpoint>> {
  const declared = jsonSetting('LLM_ENDPOINTS', settings.LLM_ENDPOINTS, endpointsSchema);
  const endpoints: Record<string, LlmEndpoint> = {};
  for (const [name, endpoint] of Object.entries(declared)) {
    endpoints[name] = {
      name,
      kind: endpoint.kind ?? 'openai',
      baseUrl: endpoint.base_url,
      apiKey: keyOf(name, endpoint, env),
      models: endpoint.models,
      rpm: endpoint.rpm ?? settings.LLM_RPM,
      tpm: endpoint.tpm ?? settings.LLM_TPM,
      prices: endpoint.prices ?? {},
    };
  }
  if (settings.LLM_BASE_URL) {
    if (endpoints.default) throw new Error('LLM_ENDPOINTS may not name an endpoint "default" while LLM_BASE_URL sets it');
    endpoints.default = {
      name: 'default',
      kind: settings.LLM_KIND,
      baseUrl: settings.LLM_BASE_URL,
      apiKey: settings.LLM_API_KEY,
      models: settings.LLM_MODELS,
      rpm: settings.LLM_RPM,
      tpm: settings.LLM_TPM,
      prices: defaultPrices(settings),
    };
  }
  return Object.freeze(endpoints);
}

function defaultPrices(settings: EndpointSettings): Record<string, ModelPrice> {
  const prices = jsonSetting('LLM_PRICES', settings.LLM_PRICES, pricesSchema);
  const unknown = Object.keys(prices).filter((model) => !settings.LLM_MODELS.includes(model));
  if (unknown.length > 0) throw new Error(`LLM_PRICES names models LLM_MODELS does not offer: ${unknown.join(', ')}`);
  return prices;
}

/** A setting holding JSON, read with its schema (absent: an empty object); a plain message naming it when wrong. */
function jsonSetting<T>(name: string, text: string | undefined, schema: z.ZodType<T>): T {
  let declared: unknown = {};
  if (text) {
    try {
      declared = JSON.parse(text);
    } catch (error) {
      throw new Error(`${name} is not valid JSON: ${(error as Error).message}`);
    }
  }
  const parsed = schema.safeParse(declared);
  if (!parsed.success) throw new Error(`${name} is invalid:\n${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function keyOf(name: string, endpoint: z.infer<typeof endpointSchema>, env: NodeJS.ProcessEnv): string | undefined {
  if (endpoint.api_key_env) {
    const key = env[endpoint.api_key_env];
    if (!key) throw new Error(`LLM_ENDPOINTS: the key of "${name}" is to come from ${endpoint.api_key_env}, which is not set`);
    return key;
  }
  if (endpoint.api_key_file) {
    try {
      return readFileSync(endpoint.api_key_file, 'utf8').trim();
    } catch (error) {
      throw new Error(`LLM_ENDPOINTS: the key file of "${name}" cannot be read: ${(error as Error).message}`);
    }
  }
  return undefined;
}

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { declaredEnvironments, environmentSettingSchema, type Environment } from './environments';
import { LLM_KINDS, resolveEndpoints, type LlmEndpoint } from './llmEndpoints';

/** The folder of package.json: this module runs from lib/ in development and from dist/lib/ once built. */
export function projectRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

/** The tag of the locally built sandbox image: a hash of its recipe and sources, so any change is a new image. */
export function localSandboxImage(): string {
  const hash = createHash('sha256');
  for (const file of ['recipe.sh', 'channel.c']) hash.update(readFileSync(join(projectRoot(), 'sandbox', 'image', file)));
  return `mission-sandbox:${hash.digest('hex').slice(0, 12)}`;
}

/** The admin key of a development machine; set your own anywhere else. */
export const DEFAULT_ADMIN_KEY = 'dev-admin-key-change-me';

/** `host:port`, as Redis Sentinel and Cluster nodes are given. */
const hostPort = z
  .string()
  .regex(/^[\w.-]+:\d{1,5}$/, 'must be host:port')
  .transform((value) => {
    const at = value.lastIndexOf(':');
    return { host: value.slice(0, at), port: Number(value.slice(at + 1)) };
  });

/** A comma-separated list of values, each checked by `item`. */
const list = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .transform((value) => value.split(',').map((part) => part.trim()).filter(Boolean))
    .pipe(z.array(item).min(1));

const schema = z.object({
  NODE_ENV: z.string().default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgres://mission:mission@127.0.0.1:5432/mission'),
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('public'),
  /**
   * DATABASE_URL goes through a pooler in transaction mode (PgBouncer): no session state is set on its
   * connections, so DATABASE_SCHEMA must be the role's own search_path (checked at start).
   */
  DATABASE_POOLED: z.stringbool().default(false),
  /** A direct connection for LISTEN, which a transaction-mode pooler cannot carry. Default: DATABASE_URL. */
  DATABASE_LISTEN_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  /** One Redis; with REDIS_SENTINELS or REDIS_CLUSTER_NODES, only its user and password are used. */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  /** Sentinels to ask for the primary of REDIS_MASTER_NAME (high availability through Redis Sentinel). */
  REDIS_SENTINELS: list(hostPort).optional(),
  REDIS_MASTER_NAME: z.string().min(1).default('mymaster'),
  /** Some nodes of a Redis Cluster; the rest are discovered. */
  REDIS_CLUSTER_NODES: list(hostPort).optional(),
  QUEUE_PREFIX: z.string().regex(/^\{[\w-]+\}$/, 'must be a Redis Cluster hash tag such as {mc}').default('{mc}'),
  /** Missions one worker runs at once; `auto` sizes it by the host's CPU, up to twice the sandboxes it has room for. */
  WORKER_CONCURRENCY: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(100_000)]).default('auto'),
  MAX_RUNNING_PER_TENANT: z.coerce.number().int().min(1).default(50),
  FLEET_CONCURRENCY: z.coerce.number().int().min(1).optional(),
  WORKER_ID: z.string().regex(/^[\w.-]{1,100}$/).optional(),
  WORKER_LOCK_MS: z.coerce.number().int().min(1_000).default(30_000),
  WORKER_STALLED_CHECK_MS: z.coerce.number().int().min(500).default(15_000),
  SANDBOX_RUNTIME: z.string().min(1).default('runsc'),
  SANDBOX_IMAGE: z.string().min(1).optional(),
  /** Environments beside the repository's own (environments/): images of the operator's, FROM the base image. */
  SANDBOX_ENVIRONMENTS: z
    .string()
    .optional()
    .transform((text, context) => {
      try {
        return environmentSettingSchema.parse(text ? JSON.parse(text) : {});
      } catch (error) {
        context.addIssue({ code: 'custom', message: `not a JSON object of environments: ${(error as Error).message.slice(0, 300)}` });
        return z.NEVER;
      }
    }),
  SANDBOX_ALLOW_RUNC: z.stringbool().default(false),
  SANDBOX_POOL_SIZE: z.coerce.number().int().min(0).max(1_000).default(2),
  /** Sandboxes one worker starts at once (for missions and warm ones alike); the rest wait their turn. */
  SANDBOX_STARTS_AT_ONCE: z.coerce.number().int().min(1).max(1_000).default(Math.max(2, availableParallelism())),
  /** Released sandboxes (killed, not yet removed) a worker may hold on top of its slots and warm pool. */
  SANDBOX_REMOVAL_BACKLOG: z.coerce.number().int().min(1).max(1_000).default(4),
  /** The most sandboxes one worker holds at once; unset, what the host has room for when the worker starts (threads, memory). */
  SANDBOX_MAX: z.coerce.number().int().min(1).max(100_000).optional(),
  /** `tenant`: a sandbox that served a mission is reset and may serve the same tenant's next ones (docs/sandboxes.md). */
  SANDBOX_REUSE: z.enum(['off', 'tenant']).default('off'),
  SANDBOX_REUSE_MAX_MISSIONS: z.coerce.number().int().min(2).max(100_000).default(100),
  SANDBOX_REUSE_MAX_AGE_S: z.coerce.number().int().min(1).default(900),
  SANDBOX_MEMORY_MB: z.coerce.number().int().min(16).default(512),
  SANDBOX_CPUS: z.coerce.number().positive().max(64).default(1),
  SANDBOX_PIDS: z.coerce.number().int().min(64).default(1024),
  SANDBOX_WORKSPACE_MB: z.coerce.number().int().min(1).default(64),
  /** The largest archive POST /v1/files takes, in bytes (unpacked, it must also fit a workspace). */
  FILE_MAX_BYTES: z.coerce.number().int().min(1_024).max(1 << 30).default(256 << 20),
  /** What the artifacts a mission keeps may hold together, and how many files they may be. */
  ARTIFACT_MAX_BYTES: z.coerce.number().int().min(1_024).max(1 << 30).default(64 << 20),
  ARTIFACT_MAX_FILES: z.coerce.number().int().min(1).max(100_000).default(1_000),
  /** Uploads one API process reads at once: each holds its archive in memory while it is checked. */
  FILE_UPLOADS_AT_ONCE: z.coerce.number().int().min(1).max(64).default(4),
  /**
   * A mission that waits longer than this for its model, while other missions wait for a sandbox, has its
   * /workspace saved and its sandbox let go; its next step gets a sandbox with the files restored.
   */
  SANDBOX_LET_GO_AFTER_S: z.coerce.number().min(0).max(3_600).default(5),
  ADMIN_API_KEY: z.string().min(16, 'must be at least 16 characters').default(DEFAULT_ADMIN_KEY),
  /** Signs console and Bull Board sessions. Required outside development, where it is derived from the admin key. */
  SESSION_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** The bearer token Prometheus sends for /metrics; without it /metrics answers only in development. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Express's `trust proxy`: how many proxies (or which addresses) stand in front, e.g. `1` or `loopback`. */
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((value) => (value === undefined ? false : /^\d+$/.test(value) ? Number(value) : value === 'true' ? true : value === 'false' ? false : value)),
  /** Session cookies are `Secure` on https requests anyway; this makes them so whatever the request says. */
  COOKIE_SECURE: z.stringbool().default(false),
  LLM_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  /** The wire format of LLM_BASE_URL: OpenAI's chat completions, or Anthropic's Messages. */
  LLM_KIND: z.enum(LLM_KINDS).default('openai'),
  LLM_MODELS: list(z.string().min(1).max(200)).default(['gpt-4o-mini']),
  LLM_API_KEY: z.string().optional(),
  LLM_ENDPOINTS: z.string().optional(),
  LLM_PRICES: z.string().optional(),
  LLM_TENANT_URL_ALLOWLIST: list(z.url({ protocol: /^https?$/ }).transform((url) => new URL(url).origin)).default([]),
  WEBHOOK_URL_ALLOWLIST: list(z.url({ protocol: /^https?$/ }).transform((url) => new URL(url).origin)).default([]),
  /** Webhook endpoints one tenant may register. */
  WEBHOOKS_PER_TENANT: z.coerce.number().int().min(1).max(10_000).default(20),
  WEBHOOK_RETRY_HOURS: z.coerce.number().positive().max(24 * 30).default(24),
  WEBHOOK_FIRST_RETRY_MS: z.coerce.number().int().min(100).default(5_000),
  WEBHOOK_POLL_MS: z.coerce.number().int().min(50).default(1_000),
  /** The operator's Grafana dashboards, linked from the console's fleet page. */
  GRAFANA_URL: z.url({ protocol: /^https?$/ }).optional(),
  CORS_ORIGINS: list(z.url({ protocol: /^https?$/ }).transform((url) => new URL(url).origin)).default([]),
  LLM_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  /** How long one model call may keep finding its endpoint unavailable (429, 5xx, down) before its mission fails. */
  LLM_RETRY_BUDGET_S: z.coerce.number().min(0).default(600),
  LLM_HISTORY_STEPS: z.coerce.number().int().min(1).default(20),
  /** About the most tokens of a mission's steps sent with each model call (4 characters a token): older steps are left out, a huge observation is cut in the middle. */
  LLM_HISTORY_TOKENS: z.coerce.number().int().min(1_000).default(64_000),
  LLM_RPM: z.coerce.number().int().min(1).default(600),
  LLM_TPM: z.coerce.number().int().min(1).default(1_000_000),
  BATCH_MAX: z.coerce.number().int().min(1).max(100_000).default(10_000),
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(6_000),
  /** Invalid API keys one client address may send a minute before it is refused without a lookup. */
  AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(1).default(60),
  SWEEP_EVERY_MS: z.coerce.number().int().min(100).default(5_000),
  /** Ended missions, batches, idempotency keys and settled webhook deliveries older than this are deleted. */
  RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(30),
  /** How long one purge (once a minute) may delete, chunk after chunk: raise it when more ends a minute than it deletes. */
  RETENTION_BUDGET_MS: z.coerce.number().int().min(100).max(50_000).default(2_000),
  MISSION_DEADLINE_S: z.coerce.number().int().min(1).default(3_600),
  /** What one mission's steps and their events may store, in MiB; the step past it ends the mission (ERR_STORAGE_CAP). */
  MISSION_STORED_MB: z.coerce.number().int().min(1).max(1_024).default(32),
  // A Node timer holds at most 2^31 - 1 ms (24.8 days).
  MISSION_DEADLINE_MAX_S: z.coerce.number().int().min(1).max(2_000_000).default(86_400),
  SSE_HEARTBEAT_MS: z.coerce.number().int().min(100).default(15_000),
  /** Event streams one tenant may hold open on one API process. */
  SSE_STREAMS_PER_TENANT: z.coerce.number().int().min(1).default(100),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
});

type Parsed = z.infer<typeof schema>;
export type Config = Readonly<
  Omit<Parsed, 'SANDBOX_IMAGE' | 'SANDBOX_ENVIRONMENTS' | 'LLM_ENDPOINTS' | 'LLM_PRICES' | 'DATABASE_LISTEN_URL'> & {
    SANDBOX_IMAGE: string;
    /** Every environment a mission may name, `base` (SANDBOX_IMAGE) among them (lib/environments.ts). */
    ENVIRONMENTS: Readonly<Record<string, Environment>>;
    DATABASE_LISTEN_URL: string;
    /** Every model endpoint missions may name, `default` (from LLM_BASE_URL) among them, with their keys. */
    LLM_ENDPOINTS: Readonly<Record<string, LlmEndpoint>>;
  }
>;

/** Development and tests (jest's own NODE_ENV) may run with the default admin key; anything else may not. */
export function isDevelopment(config: { NODE_ENV: string }): boolean {
  return config.NODE_ENV === 'development' || config.NODE_ENV === 'test';
}

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
}

/** Reads, validates and freezes the configuration. The only place that reads process.env. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema
    .refine((config) => config.MISSION_DEADLINE_S <= config.MISSION_DEADLINE_MAX_S, {
      path: ['MISSION_DEADLINE_S'],
      message: 'must not be above MISSION_DEADLINE_MAX_S',
    })
    .refine((config) => isDevelopment(config) || config.ADMIN_API_KEY !== DEFAULT_ADMIN_KEY, {
      path: ['ADMIN_API_KEY'],
      message: `is the development default, which anyone can read; set your own (NODE_ENV is not development)`,
    })
    .refine((config) => isDevelopment(config) || config.SESSION_SECRET !== undefined, {
      path: ['SESSION_SECRET'],
      message: 'is required outside development (32 random characters or more; e.g. openssl rand -hex 32)',
    })
    .refine((config) => !(config.REDIS_SENTINELS && config.REDIS_CLUSTER_NODES), {
      path: ['REDIS_CLUSTER_NODES'],
      message: 'give REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both',
    })
    .safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(`invalid configuration:\n${z.prettifyError(parsed.error)}`);
  }
  let endpoints: Config['LLM_ENDPOINTS'];
  try {
    endpoints = resolveEndpoints(parsed.data, env);
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${(error as Error).message}`);
  }
  const { LLM_PRICES: _prices, SANDBOX_ENVIRONMENTS: environments, ...settings } = parsed.data;
  const sandboxImage = parsed.data.SANDBOX_IMAGE ?? localSandboxImage();
  return Object.freeze({
    ...settings,
    SANDBOX_IMAGE: sandboxImage,
    ENVIRONMENTS: Object.freeze(declaredEnvironments(projectRoot(), sandboxImage, environments)),
    DATABASE_LISTEN_URL: parsed.data.DATABASE_LISTEN_URL ?? parsed.data.DATABASE_URL,
    LLM_ENDPOINTS: endpoints,
  });
}

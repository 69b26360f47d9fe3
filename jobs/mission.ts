import { z } from 'zod';
import { BASE_ENVIRONMENT, ENVIRONMENT_NAME } from '../lib/environments';
import { ENDPOINT_NAME } from '../lib/llmEndpoints';
import { unstorablePaths } from '../lib/text';
import { ArchiveError, entryPath } from '../tasks/archivePaths';
import type { ArtifactSummary } from '../tasks/artifacts';
import { scorerSchema, type Score } from '../scoring/score';
import { Toolbox, customToolSchema, type CustomTool } from './toolbox';
import { TOOL_NAMES, planStepSchema, type CustomCall, type ToolCall } from './tools';

export const MISSION_STATUSES = [
  'queued',
  'running',
  'waiting_approval',
  'succeeded',
  'failed',
  'cancelled',
  'timed_out',
] as const;
export type MissionStatus = (typeof MISSION_STATUSES)[number];
export const TERMINAL_STATUSES: ReadonlySet<MissionStatus> = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);
/** Statuses of a mission that has not ended (a batch holding one has not ended either). */
export const UNFINISHED_STATUSES: readonly MissionStatus[] = ['queued', 'running', 'waiting_approval'];
/**
 * A mission cancelled while a step was in flight is stopping until its worker has recorded that step (and
 * announced the end); should the worker die first, it counts as stopped this long after the cancel.
 */
export const STOPPING_GRACE_MS = 30_000;

export type PlanStep = ToolCall | CustomCall;

export interface MissionLimits {
  /** The deadline of a mission that sets none, in seconds. */
  defaultDeadlineS: number;
  /** The longest deadline a mission may ask for. */
  maxDeadlineS: number;
}

/** The most an inline file of a mission may hold, as write_file's. */
const MAX_INLINE_BYTES = 1_048_576;

/** A path inside /workspace as given (no absolute path, no `..`), refused with the archives' own words. */
const workspacePath = z
  .string()
  .min(1)
  .max(4_096)
  .superRefine((path, context) => {
    try {
      if (entryPath(path) === undefined) context.addIssue({ code: 'custom', message: 'names the workspace itself, not a file in it' });
    } catch (error) {
      if (!(error instanceof ArchiveError)) throw error;
      context.addIssue({ code: 'custom', message: error.message });
    }
  });

/** Files a mission starts with: an uploaded archive (POST /v1/files), unpacked under `path`, or a file given inline. */
export const missionFileSchema = z.union([
  z.object({ file_id: z.uuid(), path: workspacePath.optional() }).strict(),
  z
    .object({ path: workspacePath, content: z.string().max(MAX_INLINE_BYTES * 2), encoding: z.enum(['utf-8', 'base64']).default('utf-8') })
    .strict()
    .refine((file) => Buffer.byteLength(file.content, file.encoding === 'base64' ? 'base64' : 'utf8') <= MAX_INLINE_BYTES, `an inline file holds at most ${MAX_INLINE_BYTES} bytes`),
]);
export type MissionFile = z.infer<typeof missionFileSchema>;

/** Where a mission runs: its image, its files (unpacked into /workspace before anything runs), setup steps run before the agent's. */
export const environmentSchema = z
  .object({
    /** One of the operator's environments (lib/environments.ts): its image and sandbox limits. */
    name: z.string().regex(ENVIRONMENT_NAME, 'not an environment name').default(BASE_ENVIRONMENT),
    files: z.array(missionFileSchema).max(100).default([]),
    setup: z.array(planStepSchema).max(50).default([]),
  })
  .strict();

/**
 * Sampling settings passed through to the endpoint as sent (Anthropic's Messages API has no `seed`: it is not
 * sent there), and words of the tenant's own appended to the platform's system prompt.
 */
export const modelSettingsShape = {
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  max_tokens: z.number().int().min(1).max(1_000_000).optional(),
  seed: z.number().int().min(-(2 ** 53) + 1).max(2 ** 53 - 1).optional(),
  stop: z.array(z.string().min(1).max(200)).min(1).max(4).optional(),
  system_prompt: z.string().min(1).max(20_000).optional(),
};
export type ModelSettings = { [K in keyof typeof modelSettingsShape]?: z.infer<(typeof modelSettingsShape)[K]> };

const UNSTORABLE = 'holds a NUL character or an unpaired UTF-16 surrogate, which cannot be stored';

/** Refuses any string (or object key) that Postgres cannot store, naming where it is. */
export function refuseUnstorable(value: unknown, context: z.RefinementCtx): void {
  for (const path of unstorablePaths(value).slice(0, 10)) context.addIssue({ code: 'custom', path, message: UNSTORABLE });
}

/** What a client submits. Unknown fields are rejected, so a typo never silently changes a mission. */
export function missionSpecSchema(limits: MissionLimits) {
  return z
    .object({
      goal: z.string().trim().min(1).max(10_000),
      /** The caller's name for the mission, unique in its batch: it joins results to inputs, and runs to runs. */
      custom_id: z.string().min(1).max(128).optional(),
      /**
       * `scripted` replays `plan`; `sim` does too, after a modeled LLM think time (capacity runs); `openai` lets an
       * OpenAI-compatible model choose each step; `replay` answers from the recorded model calls of `replay_of`.
       */
      policy: z.enum(['scripted', 'sim', 'openai', 'replay']).default('scripted'),
      /** The `sim` policy's think time per action; 2,000 ms when not given. */
      sim_think_ms: z.number().int().min(0).max(600_000).optional(),
      plan: z.array(planStepSchema).max(1_000).default([]),
      /** Tools of the mission's own, beside the built-ins: a command run with the call's arguments on stdin. */
      tools: z.array(customToolSchema).max(32).optional(),
      /** The built-in tools the mission may use (all when not given): the others are not offered, and refused if called. */
      allowed_tools: z
        .array(z.enum(TOOL_NAMES))
        .max(TOOL_NAMES.length)
        .refine((names) => new Set(names).size === names.length, 'each tool once')
        .optional(),
      /**
       * For `openai`: one of the operator's endpoints by name (`default` when none is named) and one of its models;
       * or, for tenants the operator allowed, a URL of the tenant's own (no operator key is ever sent there).
       * Then the wire format, and whether to record the calls for `replay`.
       */
      llm: z
        .object({
          endpoint: z.string().regex(ENDPOINT_NAME, 'not an endpoint name').optional(),
          base_url: z.url({ protocol: /^https?$/ }).max(2_000).optional(),
          model: z.string().min(1).max(200).optional(),
          format: z.enum(['tools', 'text']).default('tools'),
          record: z.boolean().default(false),
          ...modelSettingsShape,
        })
        .strict()
        .optional(),
      /** For `replay`: the mission whose recorded model calls to answer from. */
      replay_of: z.uuid().optional(),
      /** Tools whose calls wait for a human's approval (POST /v1/missions/:id/approvals) before they run. */
      require_approval: z.array(z.enum(['shell', 'python', 'read_file', 'write_file'])).max(4).optional(),
      max_steps: z.number().int().min(1).max(1_000).default(100),
      /**
       * Where workers reuse sandboxes within a tenant (SANDBOX_REUSE=tenant): true gives this mission one that no
       * mission ran in. Without reuse every mission's sandbox is fresh anyway.
       */
      fresh_sandbox: z.boolean().optional(),
      /**
       * Keeps the mission's sandbox through its waits for the model: its processes keep running between steps.
       * Otherwise a long wait lets the sandbox go with the files saved, while other missions wait for one.
       */
      keep_sandbox: z.boolean().optional(),
      environment: environmentSchema.optional(),
      /**
       * Files to keep when the mission ends, whatever its outcome: globs under /workspace (`out/**`, `*.diff`),
       * collected before its sandbox goes, up to ARTIFACT_MAX_BYTES together.
       */
      artifacts: z
        .array(
          z
            .string()
            .min(1)
            .max(500)
            .refine((glob) => !glob.startsWith('/') && !glob.split('/').includes('..'), 'a glob under /workspace: not absolute, no ..'),
        )
        .min(1)
        .max(32)
        .optional(),
      /** Scores the mission after its agent ends, whatever its outcome (unless cancelled): scoring/score.ts. */
      scorer: scorerSchema.optional(),
      /** Model tokens (input and output) the mission may use; the call that crosses it ends the mission. */
      token_limit: z.number().int().min(1).max(1e12).optional(),
      /** Seconds the mission may run, counted from its first start; time spent waiting for a human is not counted. */
      deadline_s: z.number().int().min(1).max(limits.maxDeadlineS).default(limits.defaultDeadlineS),
      metadata: z.record(z.string().max(256), z.unknown()).default({}),
    })
    .strict()
    .superRefine((spec, context) => {
      const scripted = spec.policy === 'scripted' || spec.policy === 'sim';
      if (scripted && spec.plan.length === 0) context.addIssue({ code: 'custom', path: ['plan'], message: 'plan needs at least one step' });
      if (spec.policy === 'replay' && !spec.replay_of) context.addIssue({ code: 'custom', path: ['replay_of'], message: 'replay needs replay_of' });
      refuseUnknownCalls(spec, context);
      if (spec.environment?.setup.some((call) => call.tool === 'finish')) context.addIssue({ code: 'custom', path: ['environment', 'setup'], message: 'setup cannot finish the mission' });
      if (spec.llm?.endpoint && spec.llm.base_url) context.addIssue({ code: 'custom', path: ['llm'], message: 'give endpoint or base_url, not both' });
      refuseUnstorable(spec, context);
    });
}
export type MissionSpec = z.infer<ReturnType<typeof missionSpecSchema>>;

type CallsOf = { plan: readonly PlanStep[]; tools?: CustomTool[]; allowed_tools?: (typeof TOOL_NAMES)[number][]; environment?: { setup: readonly PlanStep[] } };

/** Each tool a plan or setup calls must be the mission's: an allowed built-in, or one of its own tools. */
function refuseUnknownCalls(spec: CallsOf, context: z.RefinementCtx): void {
  const names = (spec.tools ?? []).map((tool) => tool.name);
  const repeated = names.find((name, index) => names.indexOf(name) !== index);
  if (repeated) context.addIssue({ code: 'custom', path: ['tools'], message: `two tools are named ${repeated}` });
  // allowed_tools narrows the agent's tools; setup is the task's own, and may use every built-in.
  const agents = new Toolbox(spec.tools, spec.allowed_tools);
  const tasks = new Toolbox(spec.tools);
  const calls = [
    ...spec.plan.map((call, index) => [agents, ['plan', index], call] as const),
    ...(spec.environment?.setup ?? []).map((call, index) => [tasks, ['environment', 'setup', index], call] as const),
  ];
  for (const [toolbox, path, call] of calls) {
    const refused = toolbox.refusal(call.tool);
    if (refused) context.addIssue({ code: 'custom', path: [...path, 'tool'], message: refused });
  }
}

export interface MissionError {
  code: string;
  message: string;
  step?: number;
  exit_code?: number | null;
}

/** How a run of a mission ended. */
export interface MissionOutcome {
  status: MissionStatus;
  steps: number;
  error?: MissionError;
}

/** What one model call used, and cost by the operator's prices (null: the model has no price). */
export interface ModelUsage {
  /** The operator's endpoint by name, or "tenant-url" for a tenant's own. */
  endpoint: string;
  model: string;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number | null;
}

export interface Mission {
  id: string;
  tenant_id: string;
  batch_id: string | null;
  /** Its position in its batch, from 0; its attempts share it. */
  item: number | null;
  custom_id: string | null;
  /** Which run of its item this is, 1..the batch's epochs; its attempts share it. */
  epoch: number;
  /** 1, and one more for each retry of its batch item. */
  attempt: number;
  /** The attempt this one retries, and the one that retried it. */
  retry_of: string | null;
  superseded_by: string | null;
  /** Totals of its model calls (Postgres bigint and numeric: strings). */
  input_tokens: string;
  output_tokens: string;
  cost_usd: string;
  /** Tokens of calls to models without a price: while any, the mission's cost is unknown. */
  unpriced_tokens: string;
  /** Bytes its steps and their events hold (a bigint: a string). */
  stored_bytes: string;
  status: MissionStatus;
  goal: string;
  spec: MissionSpec;
  result: unknown;
  error: MissionError | null;
  step_count: number;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  enqueued_at: Date | null;
  worker_id: string | null;
  /** Which job owns the mission (lib/queue.ts missionJobId). */
  job_seq: number;
  /** Set at the first start: when the mission times out, unless an approval wait pushes it back. */
  deadline_at: Date | null;
  /** The step a worker last claimed to run; above step_count while that step is in flight. */
  step_claimed: number;
  /** Every worker the mission ran on, in order. */
  workers: string[];
  /** What collecting its artifacts kept and left out, once it ended (null: it asked for none, or has not ended). */
  artifacts: ArtifactSummary | null;
  /** Why it is queued and not running, when a worker said (no worker has its environment). */
  waiting_for: string | null;
  /** What its scorer made of it, once it ended (null: it has none, or was not scored). */
  score: Score | null;
}

export interface Step {
  mission_id: string;
  seq: number;
  thought: string | null;
  tool: string;
  input: unknown;
  observation: unknown;
  exit_code: number | null;
  error: string | null;
  started_at: Date;
  finished_at: Date;
  /** The model call that chose this step, if a model chose it. */
  usage: ModelUsage | null;
  /** A step of the task's environment.setup, run before the agent's own (false when not said). */
  setup?: boolean;
}

/** Its model calls' totals; the cost is null while any call was to a model without a price. */
export function missionUsage(mission: Pick<Mission, 'input_tokens' | 'output_tokens' | 'cost_usd' | 'unpriced_tokens'>) {
  return {
    input_tokens: Number(mission.input_tokens),
    output_tokens: Number(mission.output_tokens),
    cost_usd: Number(mission.unpriced_tokens) > 0 ? null : Number(mission.cost_usd),
  };
}

/** What the SSE stream carries: a status change or a recorded step, numbered in commit order. */
export interface MissionEvent {
  id: string;
  mission_id: string;
  type: 'status' | 'step';
  data: Record<string, unknown>;
  created_at: Date;
}

/** A step as clients see it, in API responses and in its SSE event alike. */
export function stepView(step: Step) {
  return {
    seq: step.seq,
    thought: step.thought,
    tool: step.tool,
    input: step.input,
    observation: step.observation,
    exit_code: step.exit_code,
    error: step.error,
    started_at: step.started_at.toISOString(),
    finished_at: step.finished_at.toISOString(),
    duration_ms: step.finished_at.getTime() - step.started_at.getTime(),
    usage: step.usage ?? null,
    ...(step.setup && { setup: true }),
  };
}

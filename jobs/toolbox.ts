import Ajv2020 from 'ajv/dist/2020';
import { z } from 'zod';
import { TOOLS, TOOL_NAME, TOOL_NAMES, isBuiltIn, planStepSchema, type CustomCall, type ToolCall } from './tools';

/** Only ever asked whether a schema is one (never compiled: a tenant's pattern never runs in a shared process). */
const metaSchema = new Ajv2020({ strict: false });
const MAX_SCHEMA_CHARS = 20_000;

/** A tool of the mission's own: `command` runs in the sandbox, in /workspace, with the call's arguments as JSON on stdin. */
export const customToolSchema = z
  .object({
    name: z.string().regex(TOOL_NAME, 'letters, digits, _ and -, at most 64, not starting with a digit or -').refine((name) => !isBuiltIn(name), 'clashes with a built-in tool'),
    description: z.string().min(1).max(2_000),
    /** A JSON Schema of the arguments (an object), shown to the model as the function's parameters. */
    parameters: z
      .record(z.string(), z.unknown())
      .default({ type: 'object', properties: {} })
      .superRefine((schema, context) => {
        if (JSON.stringify(schema).length > MAX_SCHEMA_CHARS) return context.addIssue({ code: 'custom', message: `at most ${MAX_SCHEMA_CHARS} characters of JSON` });
        if (schema.type !== 'object') context.addIssue({ code: 'custom', path: ['type'], message: 'the arguments are an object: "type": "object"' });
        if (!metaSchema.validateSchema(schema)) {
          const why = (metaSchema.errors ?? []).slice(0, 3).map((error) => `${error.instancePath || '/'} ${error.message}`).join('; ');
          context.addIssue({ code: 'custom', message: `not a valid JSON Schema: ${why}` });
        }
      }),
    command: z.string().min(1).max(100_000),
    timeout_s: z.number().int().min(1).max(3_600).optional(),
  })
  .strict();
export type CustomTool = z.infer<typeof customToolSchema>;

export type BuiltInName = (typeof TOOL_NAMES)[number];
export type PlanStep = z.infer<typeof planStepSchema>;

/** A tool as a function-calling model sees it. */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description: string; parameters: unknown };
}

const builtInDefinitions = new Map(
  TOOL_NAMES.map((name) => [name, { type: 'function' as const, function: { name, description: TOOLS[name].description, parameters: z.toJSONSchema(TOOLS[name].input, { unrepresentable: 'any' }) } }]),
);

/**
 * The tools of one mission: the built-ins it is allowed (`allowed_tools`, all when not given) and its own. What
 * a model is offered, and what it (or a plan) may call.
 */
export class Toolbox {
  private readonly custom: ReadonlyMap<string, CustomTool>;
  private readonly allowed: ReadonlySet<string>;

  constructor(custom: readonly CustomTool[] = [], allowedBuiltIns?: readonly BuiltInName[]) {
    this.custom = new Map(custom.map((tool) => [tool.name, tool]));
    this.allowed = new Set(allowedBuiltIns ?? TOOL_NAMES);
  }

  static of(spec: { tools?: readonly CustomTool[]; allowed_tools?: readonly BuiltInName[] }): Toolbox {
    return new Toolbox(spec.tools, spec.allowed_tools);
  }

  /** What a model is offered: the allowed built-ins, then the mission's own tools. */
  definitions(): ToolDefinition[] {
    const builtIns = TOOL_NAMES.filter((name) => this.allowed.has(name)).map((name) => builtInDefinitions.get(name)!);
    const own = [...this.custom.values()].map((tool): ToolDefinition => ({ type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.parameters } }));
    return [...builtIns, ...own];
  }

  /** The mission's own tool of this name, if it has one. */
  customTool(name: string): CustomTool | undefined {
    return this.custom.get(name);
  }

  /** Why the mission may not call `name`, or undefined when it may. */
  refusal(name: string): string | undefined {
    if (isBuiltIn(name) ? this.allowed.has(name) : this.custom.has(name)) return undefined;
    const offered = [...TOOL_NAMES.filter((tool) => this.allowed.has(tool)), ...this.custom.keys()];
    return `unknown tool ${JSON.stringify(name)}: the tools are ${offered.join(', ')}`;
  }

  /** A call as a model made it, checked: the call, or why it cannot be made. */
  parse(name: unknown, input: unknown): { call: ToolCall | CustomCall } | { error: string } {
    if (typeof name !== 'string') return { error: 'the call names no tool' };
    const refused = this.refusal(name);
    if (refused) return { error: refused };
    const parsed = planStepSchema.safeParse({ tool: name, input });
    if (!parsed.success) return { error: z.prettifyError(parsed.error).replaceAll('\n', ' ') };
    return { call: parsed.data };
  }
}

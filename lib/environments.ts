import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * Where a mission runs: an image of the operator's and its sandbox limits. `base` is the sandbox image itself;
 * the others are folders of the repository (`environments/<name>/Dockerfile`, built FROM the base image by the
 * bootstrap) or images named in SANDBOX_ENVIRONMENTS. Tenants choose one by name; they never build one.
 */
export interface Environment {
  name: string;
  image: string;
  /** The /workspace tmpfs, and the memory bound, when not the worker's own (SANDBOX_WORKSPACE_MB, SANDBOX_MEMORY_MB). */
  workspaceBytes?: number;
  memoryBytes?: number;
  /** The folder it is built from, for the repository's own. */
  recipe?: string;
}

export const BASE_ENVIRONMENT = 'base';
export const ENVIRONMENT_NAME = /^[a-z][a-z0-9-]{0,31}$/;

const limitsSchema = z
  .object({ workspace_mb: z.number().int().min(1).max(65_536).optional(), memory_mb: z.number().int().min(16).max(1_048_576).optional() })
  .strict();

/** SANDBOX_ENVIRONMENTS: `{"<name>": {"image": "<a local image FROM the base one>", "workspace_mb"?, "memory_mb"?}}`. */
export const environmentSettingSchema = z.record(z.string().regex(ENVIRONMENT_NAME, 'lower-case letters, digits and -'), limitsSchema.extend({ image: z.string().min(1).max(300) }).strict());

const mib = (value: number | undefined) => (value === undefined ? undefined : value * 1024 * 1024);

/**
 * The environments a deployment declares: `base`, the repository's folders (each tagged with a hash of its recipe
 * and of the base image's tag, so any change is a new image), then those of the setting, which win by name.
 */
export function declaredEnvironments(root: string, baseImage: string, setting: z.infer<typeof environmentSettingSchema>): Record<string, Environment> {
  const environments: Record<string, Environment> = { [BASE_ENVIRONMENT]: { name: BASE_ENVIRONMENT, image: baseImage } };
  const folder = join(root, 'environments');
  const names = existsSync(folder) ? readdirSync(folder).filter((name) => ENVIRONMENT_NAME.test(name) && existsSync(join(folder, name, 'Dockerfile'))) : [];
  for (const name of names.sort()) {
    const recipe = join(folder, name);
    const limitsFile = join(recipe, 'limits.json');
    const limits = existsSync(limitsFile) ? limitsSchema.parse(JSON.parse(readFileSync(limitsFile, 'utf8'))) : {};
    const hash = createHash('sha256').update(readFileSync(join(recipe, 'Dockerfile'))).update(baseImage).digest('hex').slice(0, 12);
    environments[name] = { name, image: `mission-env-${name}:${hash}`, workspaceBytes: mib(limits.workspace_mb), memoryBytes: mib(limits.memory_mb), recipe };
  }
  for (const [name, declared] of Object.entries(setting)) {
    environments[name] = { name, image: declared.image, workspaceBytes: mib(declared.workspace_mb), memoryBytes: mib(declared.memory_mb) };
  }
  return environments;
}

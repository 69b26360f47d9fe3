import type { Sandbox } from './sandbox';

/** When a reset sandbox may serve its tenant again (SANDBOX_REUSE=tenant). */
export interface ReuseOptions {
  /** Missions one sandbox serves at most, the first included. */
  maxMissions: number;
  /** Age after which a sandbox serves no further mission. */
  maxAgeMs: number;
  /** Reset sandboxes kept waiting for their tenants, all tenants together; the least recently used goes first. */
  maxParked: number;
  /** How long a reset may take before the sandbox is given up. */
  resetTimeoutMs: number;
}

/**
 * Reset sandboxes waiting for their tenant's next mission, in the order they were parked. One bound for all
 * tenants, so many tenants share the warm capacity instead of splitting it into cold starts.
 */
export class ParkedSandboxes {
  /** Oldest first. */
  private readonly waiting: Sandbox[] = [];

  constructor(private readonly maxParked: number) {}

  get size(): number {
    return this.waiting.length;
  }

  all(): readonly Sandbox[] {
    return this.waiting;
  }

  /** Parks a reset sandbox; returns the ones pushed out over the bound, least recently used first. */
  park(sandbox: Sandbox): Sandbox[] {
    this.waiting.push(sandbox);
    return this.waiting.splice(0, Math.max(0, this.waiting.length - this.maxParked));
  }

  /** The most recently parked sandbox of `tenant` and `environment`, taken out; undefined if it has none. */
  take(tenant: string, environment?: string): Sandbox | undefined {
    for (let at = this.waiting.length - 1; at >= 0; at--) {
      const sandbox = this.waiting[at]!;
      if (sandbox.tenant === tenant && sandbox.environment === environment) return this.waiting.splice(at, 1)[0];
    }
    return undefined;
  }

  /** The least recently used sandbox, taken out to make room for another tenant's. */
  takeOldest(): Sandbox | undefined {
    return this.waiting.shift();
  }

  /** Takes a sandbox out wherever it is; false if it was not parked. */
  remove(sandbox: Sandbox): boolean {
    const at = this.waiting.indexOf(sandbox);
    if (at >= 0) this.waiting.splice(at, 1);
    return at >= 0;
  }

  takeAll(): Sandbox[] {
    return this.waiting.splice(0);
  }
}

/** Why `sandbox` may not serve another mission of its tenant; undefined when it may, once reset. */
export function refusal(sandbox: Sandbox, options: ReuseOptions): string | undefined {
  if (sandbox.tenant === undefined) return 'it served no mission';
  if (sandbox.spoiled) return sandbox.spoiled;
  if (sandbox.missions >= options.maxMissions) return `it served ${sandbox.missions} missions, its cap`;
  if (sandbox.ageMs >= options.maxAgeMs) return 'it reached its age cap';
  return undefined;
}

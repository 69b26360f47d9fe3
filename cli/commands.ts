import type { ApiClient } from './client';
import { CliError, EXIT } from './exitCodes';
import { json, out } from './output';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

interface Step {
  seq: number;
  tool: string;
  thought: string | null;
  exit_code: number | null;
  error: string | null;
  duration_ms: number;
  observation: { stdout?: string; stderr?: string; content?: string } | null;
}

interface Mission {
  id: string;
  status: string;
  goal: string;
  step_count: number;
  duration_ms: number | null;
  error: { code: string; message: string } | null;
  result: unknown;
  approval?: { step: number; tool: string; input: unknown };
}

/** One step as a log line and its output, indented. */
function stepLines(step: Step): string {
  const outcome = step.error ? `error: ${step.error}` : step.exit_code === null ? 'ok' : `exit ${step.exit_code}`;
  const head = `#${step.seq} ${step.tool} (${step.duration_ms} ms) ${outcome}${step.thought ? ` — ${step.thought}` : ''}`;
  const output = [step.observation?.stdout, step.observation?.stderr, step.observation?.content].filter(Boolean).join('').trimEnd();
  return output ? `${head}\n${output.replace(/^/gm, '    ')}` : head;
}

/** The subcommands other than `submit`; each returns the exit code. */
export function commands(client: ApiClient, asJson: boolean) {
  return {
    async status(id: string): Promise<number> {
      const mission = await client.expect<Mission>('GET', `/v1/missions/${id}`);
      if (asJson) {
        json(mission);
        return EXIT.ok;
      }
      out(`${mission.id} ${mission.status} — ${mission.goal}`);
      out(`steps ${mission.step_count}${mission.duration_ms === null ? '' : `, ${mission.duration_ms} ms`}`);
      if (mission.error) out(`error ${mission.error.code}: ${mission.error.message}`);
      if (mission.result !== null && mission.result !== undefined) out(`result ${JSON.stringify(mission.result)}`);
      if (mission.approval) out(`waiting for approval of step ${mission.approval.step}: ${mission.approval.tool} ${JSON.stringify(mission.approval.input)}`);
      return EXIT.ok;
    },

    async list(options: { status?: string; batch?: string; limit: number; all: boolean }): Promise<number> {
      const found: Mission[] = [];
      let cursor: string | null = null;
      do {
        const query = new URLSearchParams({ limit: String(options.limit) });
        if (options.status) query.set('status', options.status);
        if (options.batch) query.set('batch_id', options.batch);
        if (cursor) query.set('cursor', cursor);
        const page: { data: Mission[]; next_cursor: string | null } = await client.expect('GET', `/v1/missions?${query}`);
        found.push(...page.data);
        cursor = options.all ? page.next_cursor : null;
      } while (cursor);
      if (asJson) {
        json(found);
        return EXIT.ok;
      }
      for (const mission of found) out(`${mission.id} ${mission.status.padEnd(16)} ${mission.goal.slice(0, 80)}`);
      return EXIT.ok;
    },

    /** The trace; with --follow, live from the event stream, resumed after a dropped connection, until the end. */
    async logs(id: string, follow: boolean): Promise<number> {
      if (!follow) {
        for await (const step of client.pages<Step>(`/v1/missions/${id}/steps?limit=1000`)) out(asJson ? JSON.stringify(step) : stepLines(step));
        return EXIT.ok;
      }
      let lastEventId: string | undefined;
      let status = '';
      for (let attempt = 0; !TERMINAL.has(status); attempt++) {
        try {
          for await (const event of client.events(`/v1/missions/${id}/events`, lastEventId)) {
            lastEventId = event.id;
            if (event.event === 'status') status = String(event.data.status);
            if (asJson) out(JSON.stringify({ event: event.event, ...event.data }));
            else out(event.event === 'step' ? stepLines(event.data as unknown as Step) : `[${status}]`);
          }
        } catch (error) {
          if (error instanceof CliError || attempt >= 10) throw error;
        }
        // The stream closes when the mission ends; one that closed before is taken up again where it stopped.
        if (!TERMINAL.has(status)) status = (await client.expect<Mission>('GET', `/v1/missions/${id}`)).status;
      }
      return status === 'succeeded' ? EXIT.ok : EXIT.missionsFailed;
    },

    /** A cancel that did not take effect (the mission had ended) is exit 1. */
    async cancel(id: string): Promise<number> {
      const mission = await client.cancel<Mission>(`/v1/missions/${id}/cancel`);
      if (!mission) return EXIT.missionsFailed;
      if (asJson) json(mission);
      else out(`${id} cancelled`);
      return EXIT.ok;
    },

    async decide(id: string, decision: 'approve' | 'reject', reason?: string): Promise<number> {
      const mission = await client.expect<Mission>('POST', `/v1/missions/${id}/approvals`, { decision, ...(reason && { reason }) });
      if (asJson) json(mission);
      else out(`${id} ${decision === 'approve' ? 'approved' : 'rejected'}; it is ${mission.status} again`);
      return EXIT.ok;
    },

    async createTenant(name: string, options: { rateLimit?: number; allowLlmBaseUrl: boolean }): Promise<number> {
      const created = await client.expect<{ tenant: { id: string; name: string }; api_key: string }>('POST', '/v1/admin/tenants', {
        name,
        ...(options.rateLimit && { rate_limit_per_minute: options.rateLimit }),
        allow_llm_base_url: options.allowLlmBaseUrl,
      });
      if (asJson) {
        json(created);
        return EXIT.ok;
      }
      out(`tenant ${created.tenant.name} (${created.tenant.id}) created; its API key, shown this once:`);
      out(created.api_key);
      return EXIT.ok;
    },
  };
}

import { startApi, type RunningApi } from '../api/main';
import { startWorker, type RunningWorker } from '../workers/main';
import { createTestEnv, testLogger, type TestEnv } from './harness';

/** The API and one worker against a test environment, with a small HTTP client for the API. */
export interface TestPlatform {
  api: RunningApi;
  worker: RunningWorker;
  request(method: string, path: string, body?: string | object, headers?: Record<string, string>): Promise<Response>;
  /** Polls until the mission reaches a terminal status, and returns it with its steps. */
  waitForMission(id: string, timeoutMs?: number): Promise<MissionJson>;
  close(): Promise<void>;
}

export interface MissionJson {
  id: string;
  status: string;
  result: unknown;
  error: { code: string; message: string; step?: number; exit_code?: number | null } | null;
  step_count: number;
  steps: {
    seq: number;
    tool: string;
    exit_code: number | null;
    error: string | null;
    observation: { stdout: string; stderr: string; exit_code: number } | null;
  }[];
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

export async function startPlatform(env: TestEnv): Promise<TestPlatform> {
  const logger = testLogger();
  const worker = await startWorker(env.config, logger, env.owner);
  const api = await startApi(env.config, logger);
  const base = `http://127.0.0.1:${api.port}`;
  const request: TestPlatform['request'] = (method, path, body, headers = {}) =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${env.config.ADMIN_API_KEY}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'object' ? JSON.stringify(body) : body,
    });
  return {
    api,
    worker,
    request,
    async waitForMission(id, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const mission = (await (await request('GET', `/v1/missions/${id}`)).json()) as MissionJson;
        if (TERMINAL.has(mission.status)) return mission;
        if (Date.now() > until) throw new Error(`mission ${id} still ${mission.status} after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async close() {
      await api.close();
      await worker.close();
    },
  };
}

/** Gives a test file the API and a worker in a test environment of its own, set up once and torn down after. */
export function usePlatform(): { env: TestEnv; platform: TestPlatform } {
  const context = {} as { env: TestEnv; platform: TestPlatform };
  beforeAll(async () => {
    context.env = await createTestEnv();
    context.platform = await startPlatform(context.env);
  });
  afterAll(async () => {
    await context.platform?.close();
    await context.env?.cleanup();
  });
  return context;
}

import { startApi, type RunningApi } from '../apps/api';
import { startWorker, type RunningWorker } from '../apps/worker';
import type { Logger } from '../lib/logger';
import { createTestEnv, testLogger, type TestEnv } from './harness';

/** The API and (unless asked not to) one worker against a test environment, with a small HTTP client. */
export interface TestPlatform {
  api: RunningApi;
  worker: RunningWorker | undefined;
  request(method: string, path: string, body?: string | object | Buffer, headers?: Record<string, string>): Promise<Response>;
  /** Submits one mission as the admin (it must be accepted) and waits for it to end, as waitForMission. */
  run(body: object): Promise<MissionJson>;
  /** Polls until the mission reaches a terminal status, and returns it with its steps. */
  waitForMission(id: string, timeoutMs?: number, headers?: Record<string, string>): Promise<MissionJson>;
  /** Reads a mission's event stream until the server ends it. */
  events(id: string, lastEventId?: string, headers?: Record<string, string>): Promise<SseEvent[]>;
  close(): Promise<void>;
}

export interface MissionJson {
  id: string;
  status: string;
  result: unknown;
  error: { code: string; message: string; step?: number; exit_code?: number | null } | null;
  step_count: number;
  batch_id: string | null;
  steps: {
    seq: number;
    thought: string | null;
    tool: string;
    exit_code: number | null;
    error: string | null;
    observation: { stdout: string; stderr: string; exit_code: number } | null;
  }[];
}

export interface SseEvent {
  id: string;
  event: string;
  data: Record<string, unknown>;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'timed_out']);

export interface PlatformOptions {
  /** Start a worker too (default true); API-only platforms leave missions queued. */
  worker?: boolean;
  /** Where the API and the worker log (default: testLogger()). */
  logger?: Logger;
  /** Configuration for this platform, over the test defaults. */
  /** Or a function, called when the platform starts (for settings known only then, such as a server's port). */
  env?: Record<string, string> | (() => Record<string, string>);
}

export async function startPlatform(env: TestEnv, options: PlatformOptions = {}): Promise<TestPlatform> {
  const logger = options.logger ?? testLogger();
  const worker = options.worker === false ? undefined : await startWorker(env.config, logger, env.owner);
  const api = await startApi(env.config, logger);
  const base = `http://127.0.0.1:${api.port}`;
  const request: TestPlatform['request'] = (method, path, body, headers = {}) =>
    fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${env.config.ADMIN_API_KEY}`, 'content-type': 'application/json', ...headers },
      body: body === undefined || typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    });
  const platform: TestPlatform = {
    api,
    worker,
    request,
    async run(body) {
      const response = await request('POST', '/v1/missions', body);
      if (response.status !== 201) throw new Error(`the mission was refused: ${response.status} ${await response.text()}`);
      return platform.waitForMission(((await response.json()) as { id: string }).id);
    },
    async waitForMission(id, timeoutMs = 30_000, headers) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const mission = (await (await request('GET', `/v1/missions/${id}`, undefined, headers)).json()) as MissionJson;
        if (TERMINAL.has(mission.status)) return mission;
        if (Date.now() > until) throw new Error(`mission ${id} still ${mission.status} after ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async events(id, lastEventId, headers = {}) {
      const response = await request('GET', `/v1/missions/${id}/events`, undefined, {
        ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
        ...headers,
      });
      if (response.status !== 200) throw new Error(`events: ${response.status} ${await response.text()}`);
      return parseSse(await response.text());
    },
    async close() {
      await api.close();
      await worker?.close();
    },
  };
  return platform;
}

export function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .map((block) => Object.fromEntries(block.split('\n').filter((line) => /^(id|event|data):/.test(line)).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)])))
    .filter((fields) => fields.id !== undefined)
    .map((fields) => ({ id: fields.id!, event: fields.event!, data: JSON.parse(fields.data!) as Record<string, unknown> }));
}

/** Gives a test file the API (and a worker) in a test environment of its own, set up once and torn down after. */
export function usePlatform(options: PlatformOptions = {}): { env: TestEnv; platform: TestPlatform } {
  const context = {} as { env: TestEnv; platform: TestPlatform };
  beforeAll(async () => {
    context.env = await createTestEnv(typeof options.env === 'function' ? options.env() : options.env);
    context.platform = await startPlatform(context.env, options);
  });
  afterAll(async () => {
    await context.platform?.close();
    await context.env?.cleanup();
  });
  return context;
}

/** Creates a tenant through the admin API and returns headers that act as it. */
export async function createTenant(platform: TestPlatform, name: string, rateLimitPerMinute?: number): Promise<Record<string, string>> {
  const response = await platform.request('POST', '/v1/admin/tenants', { name, rate_limit_per_minute: rateLimitPerMinute ?? null });
  if (response.status !== 201) throw new Error(`create tenant: ${response.status} ${await response.text()}`);
  const { api_key } = (await response.json()) as { api_key: string };
  return { authorization: `Bearer ${api_key}` };
}

export const shell = (command: string, timeout_s?: number) => ({ tool: 'shell', input: { command, ...(timeout_s && { timeout_s }) } });

/** Signs in to the console at `base` with `key` the way a browser does (login page, token, form) and returns the session cookie. */
export async function consoleSignIn(base: string, key: string, headers: Record<string, string> = {}): Promise<{ status: number; cookie: string }> {
  const page = await fetch(`${base}/console/login`, { headers });
  const loginCookie = page.headers.getSetCookie()[0]!.split(';')[0]!;
  const token = /name="_login" value="([^"]+)"/.exec(await page.text())![1]!;
  const response = await fetch(`${base}/console/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie, ...headers },
    body: new URLSearchParams({ key, _login: token, next: '/console/missions' }).toString(),
  });
  return { status: response.status, cookie: (response.headers.getSetCookie()[0] ?? '').split(';')[0]! };
}
